/**
 * Response shapes of the node's API, taken from the server's own zod schemas (type-only imports:
 * nothing of the server is bundled), so a change to the API breaks the dashboard's build, not the page.
 */
import type { z } from 'zod'
import type { NodeStatusSchema } from '../../../src/api/plexus/routes.js'
import type { NetworkStatusSchema, PeerSchema } from '../../../src/api/plexus/network.js'
import type { ModelsOverviewSchema, InstalledModelSchema, NetworkModelSchema, PullEventSchema } from '../../../src/api/plexus/models.js'
import type { ModelListSchema, PlexusResponseExtension } from '../../../src/api/openai/schemas.js'
import type {
  CabinetSummarySchema, IngestJobSchema, DocumentSchema, SearchResultSchema, AskResultSchema, AuditEntrySchema, HitSchema, CitationSchema
} from '../../../src/api/plexus/cabinet-schemas.js'

export type NodeStatus = z.infer<typeof NodeStatusSchema>
export type NetworkStatus = z.infer<typeof NetworkStatusSchema>
export type Peer = z.infer<typeof PeerSchema>
export type ModelsOverview = z.infer<typeof ModelsOverviewSchema>
export type InstalledModel = z.infer<typeof InstalledModelSchema>
export type NetworkModel = z.infer<typeof NetworkModelSchema>
export type PullEvent = z.infer<typeof PullEventSchema>
export type ModelList = z.infer<typeof ModelListSchema>
/** Where a generation ran, as the last chunk of a chat stream reports it. */
export type RouteInfo = z.infer<typeof PlexusResponseExtension>['route']

export type CabinetSummary = z.infer<typeof CabinetSummarySchema>
export type IngestJob = z.infer<typeof IngestJobSchema>
export type CabinetDocument = z.infer<typeof DocumentSchema>
export type SearchResult = z.infer<typeof SearchResultSchema>
export type SearchHit = z.infer<typeof HitSchema>
export type AskResult = z.infer<typeof AskResultSchema>
export type Citation = z.infer<typeof CitationSchema>
export type AuditEntry = z.infer<typeof AuditEntrySchema>

// Federated learning, statistics, ledger and governance panels.
import type { DatasetSchema, FromTemplateJobSchema, JobSummarySchema, ParticipationSchema, RoundSchema, TemplatesSchema } from '../../../src/api/plexus/federated-schemas.js'
export type Dataset = z.infer<typeof DatasetSchema>
export type FlJob = z.infer<typeof JobSummarySchema>
export type FlRound = z.infer<typeof RoundSchema>
export type FlParticipation = z.infer<typeof ParticipationSchema>
export type FlTemplates = z.infer<typeof TemplatesSchema>
export type FlTemplateJob = z.infer<typeof FromTemplateJobSchema>
export type { StatsResult } from '../../../src/analytics/pool.js'
export type { StatsFunction } from '../../../src/analytics/functions.js'
export type { LedgerEntry } from '../../../src/ledger/records.js'
export type { RewardsReport } from '../../../src/ledger/books.js'
export type { ProposalView } from '../../../src/governance/service.js'
export type { Tally } from '../../../src/governance/tally.js'

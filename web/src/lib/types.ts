/**
 * Response shapes of the node's API, taken from the server's own zod schemas (type-only imports:
 * nothing of the server is bundled), so a change to the API breaks the dashboard's build, not the page.
 */
import type { z } from 'zod'
import type { NodeStatusSchema } from '../../../src/api/plexus/routes.js'
import type { NetworkStatusSchema, PeerSchema } from '../../../src/api/plexus/network.js'

export type NodeStatus = z.infer<typeof NodeStatusSchema>
export type NetworkStatus = z.infer<typeof NetworkStatusSchema>
export type Peer = z.infer<typeof PeerSchema>

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

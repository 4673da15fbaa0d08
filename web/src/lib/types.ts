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

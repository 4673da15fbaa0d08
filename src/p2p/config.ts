import type { PlexusConfig } from '../node/config.js'

export type NetworkConfig = PlexusConfig['network']
export type CommunityConfig = NetworkConfig['community']

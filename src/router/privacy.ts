/**
 * Privacy levels: the contract every path that could send work off this node must respect.
 *
 * - `private`: runs only on this node. Anything derived from a cabinet is private, always.
 * - `community`: may run on a peer of the network that advertises the model.
 * - `cloud`: may go to a configured OpenAI-compatible upstream; never by default.
 *
 * The router refuses rather than downgrades: a request is never sent further than its level allows.
 *
 * @packageDocumentation
 */
import { PlexusError } from '../errors.js'

export const PRIVACY_LEVELS = ['private', 'community', 'cloud'] as const
export type PrivacyLevel = (typeof PRIVACY_LEVELS)[number]

/** Where a piece of work may run, ordered from closest to farthest. */
const REACH: Record<PrivacyLevel, number> = { private: 0, community: 1, cloud: 2 }

/** Why a request is pinned to this node, when it is (e.g. `cabinet:medical-notes`). */
export interface PrivacyTag {
  level: PrivacyLevel
  /** Sources that forced the level; non-empty means the level can never be raised. */
  pinnedBy: readonly string[]
}

/** The level a caller asked for, defaulting to `private` (the configured default arrives with the router). */
export function requestedLevel (header: string | undefined, bodyField: string | undefined, fallback: PrivacyLevel = 'private'): PrivacyLevel {
  const raw = bodyField ?? header
  if (raw == null || raw === '') return fallback
  if (!(PRIVACY_LEVELS as readonly string[]).includes(raw)) {
    throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Unknown privacy level '${raw}': use private, community or cloud`], { param: 'plexus.privacy' })
  }
  return raw as PrivacyLevel
}

/**
 * Pins a request to this node because it carries private data (cabinet passages). Asking for a
 * wider level at the same time is an error, not a silent downgrade of the caller's wish.
 */
export function pinPrivate (requested: PrivacyLevel, source: string): PrivacyTag {
  if (requested !== 'private') {
    throw new PlexusError('PLX_ERR_PRIVACY_VIOLATION', [source, requested])
  }
  return { level: 'private', pinnedBy: [source] }
}

/** True if work tagged `tag` may be executed at `destination`. The network layer must ask this. */
export function mayRunAt (tag: PrivacyTag, destination: PrivacyLevel): boolean {
  if (tag.pinnedBy.length > 0) return destination === 'private'
  return REACH[destination] <= REACH[tag.level]
}

/** Throws unless `mayRunAt`; call before handing work to anything that leaves this process. */
export function assertMayRunAt (tag: PrivacyTag, destination: PrivacyLevel): void {
  if (!mayRunAt(tag, destination)) {
    throw new PlexusError('PLX_ERR_PRIVACY_VIOLATION', [tag.pinnedBy.join(', ') || `a ${tag.level} request`, destination])
  }
}

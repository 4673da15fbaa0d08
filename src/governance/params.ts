/**
 * The parameters the community may change, each with its schema and bounds, and how a change is
 * checked and applied to a node's running configuration. A change is either `set` (a named
 * parameter to a new value) or `member` (admit or remove a peer id). Anything not in this table
 * cannot be proposed.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { PeerIdSchema } from '../p2p/peer-id.js'
import type { PlexusConfig } from '../node/config.js'

const Sha256List = z.array(z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256')).max(1000)
  .refine(a => new Set(a).size === a.length, 'no duplicates')
const Weight = z.number().int().min(0).max(1_000_000)
const Share = z.number().gt(0).max(1)
const Count = z.number().int().min(0).max(1_000_000)
const DaySeconds = 86_400
/** As `governance.members` in the configuration (and the largest electorate). */
const MAX_MEMBERS = 100

export interface ParamSpec {
  schema: z.ZodType
  get: (c: PlexusConfig) => unknown
  set: (c: PlexusConfig, value: never) => void
  /** A change to the governance rules themselves: needs `ruleThreshold`. */
  rule?: boolean
  help: string
}

function weight (k: keyof PlexusConfig['ledger']['weights']): ParamSpec {
  return { schema: Weight, get: c => c.ledger.weights[k], set: (c, v: number) => { c.ledger.weights[k] = v }, help: `reward points per unit (${k})` }
}

function disclosure<K extends 'tab' | 'subset' | 'glm' | 'levelsMax' | 'levelsDensity' | 'dominanceShare'> (k: K, schema: z.ZodType, help: string): ParamSpec {
  return { schema, get: c => c.stats.disclosure[k], set: (c, v: number) => { c.stats.disclosure[k] = v }, help }
}

/** Every governable parameter, by name. */
export const PARAMS: Readonly<Record<string, ParamSpec>> = {
  'ledger.weights.promptToken': weight('promptToken'),
  'ledger.weights.completionToken': weight('completionToken'),
  'ledger.weights.flSample': weight('flSample'),
  'ledger.weights.statsQuery': weight('statsQuery'),
  'ledger.weights.uptime': weight('uptime'),
  'ledger.commitSeconds': { schema: z.number().int().min(60).max(7 * DaySeconds), get: c => c.ledger.commitSeconds, set: (c, v: number) => { c.ledger.commitSeconds = v }, help: 'window for uptime-score commitments after an epoch (s)' },
  'ledger.revealSeconds': { schema: z.number().int().min(60).max(7 * DaySeconds), get: c => c.ledger.revealSeconds, set: (c, v: number) => { c.ledger.revealSeconds = v }, help: 'window for uptime-score reveals after the commit window (s)' },
  'ledger.epochSeconds': { schema: z.number().int().min(60).max(94_672_800), get: c => c.ledger.epochSeconds, set: (c, v: number) => { c.ledger.epochSeconds = v }, help: 'length of a reward epoch (s)' },
  'stats.disclosure.tab': disclosure('tab', Count, 'nfilter.tab: smallest non-zero table cell'),
  'stats.disclosure.subset': disclosure('subset', Count, 'nfilter.subset: smallest subset'),
  'stats.disclosure.glm': disclosure('glm', Share, 'nfilter.glm: most model parameters per row'),
  'stats.disclosure.levelsMax': disclosure('levelsMax', z.number().int().min(2).max(1000), 'most levels of a factor'),
  'stats.disclosure.levelsDensity': disclosure('levelsDensity', Share, 'levels per row'),
  'stats.disclosure.dominanceShare': disclosure('dominanceShare', Share, 'largest share of a sum the top contributions may hold'),
  'router.defaultPrivacy': { schema: z.enum(['private', 'community', 'cloud']), get: c => c.router.defaultPrivacy, set: (c, v: PlexusConfig['router']['defaultPrivacy']) => { c.router.defaultPrivacy = v }, help: 'privacy level of requests that do not say' },
  'network.community.models': { schema: Sha256List, get: c => c.network.community.models, set: (c, v: string[]) => { c.network.community.models = [...v] }, help: 'sha256 of the models allowed for community serving (empty: any)' },
  'governance.flTemplates': { schema: Sha256List, get: c => c.governance.flTemplates, set: (c, v: string[]) => { c.governance.flTemplates = [...v] }, help: 'sha256 of FL job templates approved for automatic participation' },
  'governance.mode': { rule: true, schema: z.enum(['member', 'token']), get: c => c.governance.mode, set: (c, v: 'member' | 'token') => { c.governance.mode = v }, help: 'one node one vote, or token-weighted' },
  'governance.quorum': { rule: true, schema: Share, get: c => c.governance.quorum, set: (c, v: number) => { c.governance.quorum = v }, help: 'share of the eligible weight that must vote' },
  'governance.threshold': { rule: true, schema: z.number().min(0.5).lt(1), get: c => c.governance.threshold, set: (c, v: number) => { c.governance.threshold = v }, help: 'share of yes among yes+no that passes' },
  'governance.ruleThreshold': { rule: true, schema: z.number().min(0.5).lt(1), get: c => c.governance.ruleThreshold, set: (c, v: number) => { c.governance.ruleThreshold = v }, help: 'the threshold for rule changes' },
  'governance.votingPeriodSeconds': { rule: true, schema: z.number().int().min(1).max(30 * DaySeconds), get: c => c.governance.votingPeriodSeconds, set: (c, v: number) => { c.governance.votingPeriodSeconds = v }, help: 'voting period (s)' },
  'governance.timelockSeconds': { rule: true, schema: z.number().int().min(0).max(30 * DaySeconds), get: c => c.governance.timelockSeconds, set: (c, v: number) => { c.governance.timelockSeconds = v }, help: 'delay between the end of the vote and the change (s)' }
}

/** DataSHIELD's names for the disclosure thresholds, accepted in proposals and stored as the config names. */
const ALIASES: Readonly<Record<string, string>> = { 'nfilter.tab': 'stats.disclosure.tab', 'nfilter.subset': 'stats.disclosure.subset', 'nfilter.glm': 'stats.disclosure.glm' }


export const ChangeSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('set'), param: z.string().min(1).max(64), value: z.unknown() }),
  z.strictObject({ type: z.literal('member'), action: z.enum(['admit', 'remove']), peer: PeerIdSchema })
])
export type Change = z.output<typeof ChangeSchema>

function invalid (why: string): PlexusError {
  return new PlexusError('PLX_ERR_GOV_CHANGE_INVALID', [why])
}

/** Checks a change: a known parameter and a value within its bounds. Returns it normalised. */
export function checkChange (value: unknown): Change {
  const r = ChangeSchema.safeParse(value)
  if (!r.success) throw invalid(z.prettifyError(r.error).replace(/\n/g, ' '))
  const change = r.data
  if (change.type === 'member') return change
  const param = Object.hasOwn(ALIASES, change.param) ? ALIASES[change.param]! : change.param
  const spec = Object.hasOwn(PARAMS, param) ? PARAMS[param] : undefined
  if (spec == null) throw invalid(`unknown parameter '${change.param}' (governable: ${Object.keys(PARAMS).join(', ')})`)
  const v = spec.schema.safeParse(change.value)
  if (!v.success) throw invalid(`${param}: ${z.prettifyError(v.error).replace(/\n/g, ' ')}`)
  return { type: 'set', param, value: v.data }
}

/** Does this change touch the governance rules (and so need the higher threshold)? */
export function isRuleChange (change: Change): boolean {
  return change.type === 'set' && PARAMS[change.param]?.rule === true
}

/** What the node does beyond its configuration when membership changes. */
export interface ApplyHooks {
  /** Stop talking to a removed peer (deny list, hang up). */
  deny: (peerId: string) => void
  /** Lift a denial (a peer admitted again). */
  allow: (peerId: string) => void
}

/** Applies a checked change to `config` in place; returns the value before and after. */
export function applyChange (config: PlexusConfig, change: Change, hooks: ApplyHooks): { before: unknown, after: unknown } {
  if (change.type === 'set') {
    const spec = PARAMS[change.param]
    if (spec == null) throw invalid(`unknown parameter '${change.param}'`)
    const before = structuredClone(spec.get(config))
    spec.set(config, structuredClone(change.value) as never)
    return { before, after: structuredClone(spec.get(config)) }
  }
  const g = config.governance
  const before = { member: g.members.includes(change.peer), denied: config.network.denyPeers.includes(change.peer) }
  if (change.action === 'admit') {
    // In open mode (no members list) admitting only lifts an earlier removal.
    if (g.members.length > 0 && !g.members.includes(change.peer)) {
      if (g.members.length >= MAX_MEMBERS) throw invalid(`the members list is full (${MAX_MEMBERS})`)
      g.members.push(change.peer)
    }
    config.network.denyPeers = config.network.denyPeers.filter(p => p !== change.peer)
    hooks.allow(change.peer)
  } else {
    g.members = g.members.filter(p => p !== change.peer)
    if (!config.network.denyPeers.includes(change.peer)) config.network.denyPeers.push(change.peer)
    hooks.deny(change.peer)
  }
  return { before, after: { member: g.members.includes(change.peer), denied: config.network.denyPeers.includes(change.peer) } }
}

/** A `set` change as applied: the parameter's value before and after, in force from `fromMs`. */
export interface AppliedSetting {
  param: string
  /** The proposal's `applyAt`: the same on every node that applies it. */
  fromMs: number
  before: unknown
  after: unknown
}

/**
 * A parameter's value at `timeMs`, from the settings applied to it and its value now: the `after`
 * of the latest setting in force by then, or, before the first, that one's `before`.
 */
export function settingAt (settings: readonly AppliedSetting[], param: string, now: unknown, timeMs: number): unknown {
  const own = settings.filter(s => s.param === param).sort((a, b) => a.fromMs - b.fromMs)
  if (own.length === 0) return now
  let value = own[0]!.before
  for (const s of own) if (s.fromMs <= timeMs) value = s.after
  return value
}

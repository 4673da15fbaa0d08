/**
 * Community governance of the network's parameters: typed, bounded changes proposed and voted on
 * with signed ledger records, tallied the same way by every node, applied after a timelock.
 *
 * @example
 * ```ts
 * const p = await node.governance.propose({ title: 'Stricter tables', change: { type: 'set', param: 'stats.disclosure.tab', value: 5 } })
 * await node.governance.vote(p.id, 'yes')           // gossiped; peers vote too
 * node.governance.tally(p.id)                        // { quorumMet, thresholdMet, passed, … }
 * // after the end (+ timelock) every node applies it to node.config and records that it did
 * ```
 *
 * @packageDocumentation
 */
export { PARAMS, ChangeSchema, checkChange, applyChange, isRuleChange, type Change, type ParamSpec, type ApplyHooks } from './params.js'
export { CHOICES, MAX_ELECTORATE, ProposalSpecSchema, ProposalDataSchema, VoteDataSchema, contentId, proposalOf, voteOf, type Choice, type Proposal, type ProposalData, type ProposalSpec, type Vote, type Voter } from './proposals.js'
export { tally, type Tally } from './tally.js'
export { GOV_PROTOCOL, GovNet, govTopic, parseGossip, type GovNetStats } from './protocol.js'
export { GovernanceService, TALLY_GRACE_MS, type GovernanceComponents, type ProposalView, type ProposalStatus, type ReceiveResult } from './service.js'

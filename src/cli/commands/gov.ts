import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { PlexusError } from '../../errors.js'
import type { ProposalView } from '../../governance/service.js'
import type { Tally } from '../../governance/tally.js'
import { CHOICES } from '../../governance/proposals.js'
import { nodeFor, callNode, type NodeTarget } from '../client.js'
import { output, table, type GlobalOptions } from '../output.js'
import { viaNode } from './data.js'
import { shortPeerId } from './network.js'

const URL_HELP = 'node to ask (default: the one running on the data directory; or PLEXUS_URL)'

function target (opts: { url?: string }, cmd: Command): { g: GlobalOptions, node: NodeTarget } {
  const g = cmd.optsWithGlobals<GlobalOptions>()
  return { g, node: nodeFor(opts, g) }
}

function checkId (id: string): string {
  if (!/^gov-[0-9a-f]{32}$/.test(id)) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid proposal id '${id.slice(0, 80)}' (gov- and 32 hex digits)`])
  return id
}

function describeChange (p: ProposalView): string {
  const c = p.change
  return c.type === 'set' ? `${c.param} = ${JSON.stringify(c.value)}` : `${c.action} ${c.peer}`
}

export function describeTally (t: Tally): string {
  return [
    `yes ${t.yes}, no ${t.no}, abstain ${t.abstain} of ${t.eligible} eligible`,
    `quorum ${t.quorumMet ? 'met' : 'NOT met'}, threshold ${t.thresholdMet ? 'met' : 'NOT met'}: ${t.passed ? 'PASSED' : 'not passed'}`,
    ...(Object.keys(t.ignored).length > 0 ? [`ignored: ${Object.entries(t.ignored).map(([k, v]) => `${k} ${v}`).join(', ')}`] : [])
  ].join('\n')
}

function describe (p: ProposalView): string {
  return [
    `${p.id}  ${p.status.toUpperCase()}`,
    `title     ${p.title}`,
    ...(p.description !== '' ? [`about     ${p.description}`] : []),
    `change    ${describeChange(p)}`,
    `author    ${p.author}`,
    `voting    ${p.start} → ${p.end} (${p.mode} mode, quorum ${p.quorum}, threshold ${p.threshold}, ${p.electorate.length} voters)`,
    `applies   ${p.applyAt}`,
    `votes     ${p.votes} recorded`,
    ...(p.outcome != null ? [`outcome   ${describeTally(p.outcome).replace(/\n/g, '\n          ')}`] : []),
    ...(p.applied != null ? [`applied   ${p.applied.ok ? `at ${p.applied.at}: ${JSON.stringify(p.applied.before)} → ${JSON.stringify(p.applied.after)}` : `FAILED at ${p.applied.at}: ${p.applied.error ?? ''}`}`] : [])
  ].join('\n')
}

export function registerGov (program: Command): void {
  const gov = program.command('gov').description('community governance: propose changes to the network\'s parameters, vote, tally')

  gov
    .command('propose')
    .description('propose a change from a JSON spec: {"title", "description", "change": {"type":"set","param","value"} | {"type":"member","action":"admit"|"remove","peer"}, "votingPeriodSeconds"?, "timelockSeconds"?}')
    .argument('<spec>', 'JSON file')
    .option('--url <url>', URL_HELP)
    .action(async (file: string, opts: { url?: string }, cmd: Command) => {
      const { g, node } = target(opts, cmd)
      let spec: unknown
      try {
        spec = JSON.parse(readFileSync(file, 'utf8'))
      } catch (err) {
        throw new PlexusError('PLX_ERR_BAD_REQUEST', [`cannot read the proposal spec ${file}: ${(err as Error).message}`])
      }
      const p = await viaNode(async () => await callNode<ProposalView>(node, 'POST', '/api/plexus/gov/proposals', spec))
      output(g.json, p, () => `Proposed ${p.id}: ${describeChange(p)}; voting ends ${p.end}.`)
    })

  gov
    .command('list')
    .description('proposals this node knows, newest first')
    .option('--url <url>', URL_HELP)
    .action(async (opts: { url?: string }, cmd: Command) => {
      const { g, node } = target(opts, cmd)
      const r = await viaNode(async () => await callNode<{ proposals: ProposalView[] }>(node, 'GET', '/api/plexus/gov/proposals'))
      output(g.json, r.proposals, () => r.proposals.length === 0
        ? 'No proposals yet.'
        : table(['ID', 'STATUS', 'CHANGE', 'AUTHOR', 'ENDS', 'VOTES'], r.proposals.map(p => [p.id, p.status, describeChange(p), shortPeerId(p.author), p.end.slice(0, 19).replace('T', ' '), p.votes])))
    })

  gov
    .command('show')
    .description('a proposal with its votes, outcome and applied change')
    .argument('<id>', 'proposal id')
    .option('--url <url>', URL_HELP)
    .action(async (id: string, opts: { url?: string }, cmd: Command) => {
      const { g, node } = target(opts, cmd)
      const p = await viaNode(async () => await callNode<ProposalView & { voteRecords: Array<{ id: string, voter: string, choice: string, time: string }> }>(node, 'GET', `/api/plexus/gov/proposals/${checkId(id)}`))
      output(g.json, p, () => [describe(p), ...(p.voteRecords.length > 0 ? ['', table(['VOTER', 'CHOICE', 'SIGNED'], p.voteRecords.map(v => [shortPeerId(v.voter), v.choice, v.time]))] : [])].join('\n'))
    })

  gov
    .command('vote')
    .description('vote on a proposal as this node (a later vote replaces an earlier one until the end)')
    .argument('<id>', 'proposal id')
    .argument('<choice>', CHOICES.join('|'))
    .option('--url <url>', URL_HELP)
    .action(async (id: string, choice: string, opts: { url?: string }, cmd: Command) => {
      const { g, node } = target(opts, cmd)
      if (!(CHOICES as readonly string[]).includes(choice)) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`the choice must be ${CHOICES.join(', ')}; got '${choice.slice(0, 40)}'`])
      const r = await viaNode(async () => await callNode<{ vote: string, proposal: ProposalView }>(node, 'POST', `/api/plexus/gov/proposals/${checkId(id)}/votes`, { choice }))
      output(g.json, r, () => `Voted ${choice} on ${id} (vote ${r.vote}); voting ends ${r.proposal.end}.`)
    })

  gov
    .command('tally')
    .description('the tally recomputed from the recorded votes')
    .argument('<id>', 'proposal id')
    .option('--url <url>', URL_HELP)
    .action(async (id: string, opts: { url?: string }, cmd: Command) => {
      const { g, node } = target(opts, cmd)
      const r = await viaNode(async () => await callNode<{ tally: Tally }>(node, 'GET', `/api/plexus/gov/proposals/${checkId(id)}/tally`))
      output(g.json, r.tally, () => describeTally(r.tally))
    })
}

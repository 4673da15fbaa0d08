import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { PlexusError } from '../../errors.js'
import { dataDirPaths, resolveDataDir } from '../../node/data-dir.js'
import { loadIdentity } from '../../node/identity.js'
import { LedgerLog, type InclusionProof } from '../../ledger/log.js'
import { HeadBook, type Equivocation } from '../../ledger/heads.js'
import { peerSigner } from '../../ledger/peer-keys.js'
import { entryId, isRecord, type LedgerEntry, type SignedRecord } from '../../ledger/records.js'
import type { SignedTreeHead } from '../../ledger/tree-head.js'
import type { RewardsReport } from '../../ledger/books.js'
import { MICRO_PER_TOKEN } from '../../ledger/rewards.js'
import { nodeFor, runningNode, callNode } from '../client.js'
import { output, table, type GlobalOptions } from '../output.js'
import { intOption } from '../parse.js'
import { viaNode } from './data.js'
import { shortPeerId } from './network.js'

const URL_HELP = 'node to ask (default: the one running on the data directory, else the data directory itself; or PLEXUS_URL)'

interface LedgerSummary { owner: string, size: number, root: string, head: SignedTreeHead | null, seen: Array<{ log: string, size: number, root: string, timestamp: number, status: string }>, evidence: Equivocation[] }
interface VerifyResult { log: ReturnType<LedgerLog['verify']>, heads: ReturnType<HeadBook['verify']>, evidence: Equivocation[] }

/** Opens the ledger file of a data directory (no node runs on it). */
function openLocal (g: GlobalOptions): { log: LedgerLog, book: HeadBook } {
  const dataDir = resolveDataDir(g.dataDir)
  const paths = dataDirPaths(dataDir)
  const file = join(dataDir, 'ledger.db')
  if (!existsSync(file)) throw new PlexusError('PLX_ERR_LEDGER_STORE', [file, 'there is no ledger yet (it is created when the node first starts)'])
  const log = LedgerLog.open({ file, signer: peerSigner(loadIdentity(paths.identity)) })
  return { log, book: new HeadBook(log.db) }
}

function withLocal<T> (g: GlobalOptions, fn: (l: { log: LedgerLog, book: HeadBook }) => T): T {
  const local = openLocal(g)
  try { return fn(local) } finally { local.log.close() }
}

const tokens = (micro: string): string => {
  const v = BigInt(micro)
  return `${v / MICRO_PER_TOKEN}.${(v % MICRO_PER_TOKEN).toString().padStart(6, '0')}`
}

/** What a record says, in a few words (a spot check: its verdict on which provider). */
function recordWork (e: SignedRecord): string {
  const d = e.record.data
  if (e.record.kind === 'spot-check' && typeof d.verdict === 'string' && typeof d.provider === 'string') return `${d.verdict}: ${shortPeerId(d.provider)}`
  return entryId(e)
}

export function describeVerify (v: VerifyResult): string {
  const lines = [v.log.ok ? `Log: OK — ${v.log.size} receipts, every signature and tree node checked, ${v.log.headsChecked} signed heads match.` : `Log: FAILED at ${v.log.firstBad?.what ?? '?'} ${v.log.firstBad?.index ?? ''}${v.log.firstBad?.id != null ? ` (receipt ${v.log.firstBad.id})` : ''}: ${v.log.firstBad?.reason ?? ''}`]
  lines.push(v.heads.ok ? `Heads seen from peers: OK — ${v.heads.heads} heads, ${v.heads.evidence} pieces of evidence.` : `Heads seen from peers: ${v.heads.problems.join('; ')}`)
  for (const e of v.evidence) lines.push(`EQUIVOCATION by ${e.signer}: ${e.kind}`)
  return lines.join('\n')
}

export function registerLedger (program: Command): void {
  const ledger = program.command('ledger').description('the verifiable books: signed receipts in a tamper-evident Merkle log')

  ledger
    .command('log')
    .description('this node\'s log: size, root, latest signed head, the newest receipts, heads seen from peers, evidence')
    .option('--limit <n>', 'newest receipts to show', intOption('--limit', 0, 1000), 20)
    .option('--url <url>', URL_HELP)
    .action(async (opts: { limit: number, url?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const target = runningNode(opts, g)
      let summary: LedgerSummary
      let receipts: Array<{ index: number, receipt: LedgerEntry }>
      if (target != null) {
        summary = await viaNode(async () => await callNode<LedgerSummary>(target, 'GET', '/api/plexus/ledger'))
        receipts = (await viaNode(async () => await callNode<{ receipts: Array<{ index: number, receipt: LedgerEntry }> }>(target, 'GET', `/api/plexus/ledger/receipts?start=${Math.max(0, summary.size - opts.limit)}`))).receipts
      } else {
        ({ summary, receipts } = withLocal(g, ({ log, book }) => ({
          summary: { owner: log.owner, size: log.size, root: log.root(), head: log.latestHead(), seen: book.heads().map(h => ({ log: h.sth.head.log, size: h.sth.head.size, root: h.sth.head.root, timestamp: h.sth.head.timestamp, status: h.status })), evidence: book.equivocations() },
          receipts: log.receipts(Math.max(0, log.size - opts.limit))
        })))
      }
      output(g.json, { ...summary, receipts }, () => [
        `log      ${summary.owner}`,
        `size     ${summary.size} receipts, root ${summary.root}`,
        `head     ${summary.head == null ? 'none signed yet' : `size ${summary.head.head.size} at ${new Date(summary.head.head.timestamp).toISOString()}`}`,
        '',
        receipts.length === 0 ? 'No receipts yet.' : table(['#', 'KIND', 'PROVIDER', 'REQUESTER', 'WORK', 'ENDED'], receipts.map(({ index, receipt: e }) => {
          if (isRecord(e)) return [index, e.record.kind, shortPeerId(e.record.author), '(record)', recordWork(e), new Date(e.record.time).toISOString().slice(0, 19).replace('T', ' ')]
          const b = e.body
          return [
            index, b.kind, shortPeerId(b.provider), shortPeerId(b.requester),
            b.kind === 'inference' ? `${b.promptTokens}+${b.completionTokens} tokens` : b.kind === 'fl-round' ? `${b.samples} samples` : `${b.queries} queries, ${b.rows} rows`,
            new Date(b.endedAt).toISOString().slice(0, 19).replace('T', ' ')
          ]
        })),
        ...(summary.seen.length > 0 ? ['', table(['PEER LOG', 'SIZE', 'STATUS'], summary.seen.map(s => [shortPeerId(s.log), s.size, s.status]))] : []),
        ...summary.evidence.map(e => `EQUIVOCATION by ${e.signer}: ${e.kind}`)
      ].join('\n'))
    })

  ledger
    .command('verify')
    .description('re-check every receipt\'s signatures, the Merkle tree, this log\'s signed heads and every head seen for consistency; exit 1 on any problem')
    .option('--url <url>', URL_HELP)
    .action(async (opts: { url?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const target = runningNode(opts, g)
      const v = target != null
        ? await viaNode(async () => await callNode<VerifyResult>(target, 'GET', '/api/plexus/ledger/verify'))
        : withLocal(g, ({ log, book }) => ({ log: log.verify(), heads: book.verify(), evidence: book.equivocations() }))
      output(g.json, v, () => describeVerify(v))
      if (!v.log.ok || !v.heads.ok || v.evidence.length > 0) process.exitCode = 1
    })

  ledger
    .command('proof')
    .description('a receipt and its inclusion proof under the current tree')
    .argument('<receipt>', 'receipt id')
    .option('--url <url>', URL_HELP)
    .action(async (id: string, opts: { url?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(id)) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid receipt id '${id.slice(0, 80)}'`])
      const target = runningNode(opts, g)
      const r = target != null
        ? await viaNode(async () => await callNode<{ receipt: LedgerEntry, proof: InclusionProof, root: string }>(target, 'GET', `/api/plexus/ledger/receipts/${id}`))
        : withLocal(g, ({ log }) => { const proof = log.inclusionProof(id); return { receipt: log.receipt(id)!.receipt, proof, root: log.root(proof.size) } })
      output(g.json, r, () => [
        `entry    ${r.proof.id} (${isRecord(r.receipt) ? r.receipt.record.kind : r.receipt.body.kind}), entry ${r.proof.index} of ${r.proof.size}`,
        `leaf     ${r.proof.leafHash}`,
        `root     ${r.root}`,
        'path     ' + (r.proof.path.length === 0 ? '(none: the only leaf)' : r.proof.path.join('\n         '))
      ].join('\n'))
    })

  program
    .command('rewards')
    .description('reward tables of the finished epochs and balances, recomputed from this node\'s and its peers\' logs')
    .option('--url <url>', 'node to ask (default: the one running on the data directory; or PLEXUS_URL)')
    .action(async (opts: { url?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const target = nodeFor(opts, g)
      const r = await viaNode(async () => await callNode<RewardsReport>(target, 'GET', '/api/plexus/rewards'))
      output(g.json, r, () => [
        `${r.epochs.length} settled epoch(s) from ${r.logs.length} log(s)${r.unreachable.length > 0 ? ` (${r.unreachable.length} unreachable)` : ''}; ${r.counted} receipts counted, ${r.rejected} refused.`,
        ...r.epochs.slice(-5).flatMap(t => ['', `epoch ${t.epoch} (${new Date(t.start).toISOString()}): pool ${tokens(t.poolMicro)}, paid ${tokens(t.paidMicro)}, root ${t.root.slice(0, 16)}…`,
          table(['PEER', 'POINTS', 'UPTIME', 'REWARD'], t.rows.map(row => [shortPeerId(row.peer), row.points, row.uptime == null ? '-' : `${(row.uptime / 10).toFixed(1)}%`, tokens(row.rewardMicro)]))]),
        '',
        Object.keys(r.balances).length === 0 ? 'No balances yet.' : table(['PEER', 'BALANCE'], Object.entries(r.balances).map(([peer, v]) => [shortPeerId(peer), tokens(v)]))
      ].join('\n'))
    })
}

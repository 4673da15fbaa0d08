import { useMemo, useState } from 'preact/hooks'
import { api } from '../lib/api.js'
import { LineChart, color } from '../lib/chart.js'
import { useAction, useApi } from '../lib/hooks.js'
import { Card, Empty, ErrorNote, fmt, Loading, Panel, Short, Table } from '../lib/ui.js'
import type { LedgerEntry, RewardsReport } from '../lib/types.js'

const PAGE = 20
const MAX_PEERS_CHARTED = 6

interface TreeHead { head: { log: string, size: number, root: string, timestamp: number }, signature: string }
interface LedgerStatus {
  owner: string
  size: number
  root: string
  head: TreeHead | null
  seen: Array<{ log: string, size: number, root: string, timestamp: number, status: 'trusted' | 'pending' | 'conflicting' }>
  evidence: unknown[]
}
interface VerifyAnswer {
  log: { ok: boolean, size: number, headsChecked: number, firstBad: { what: string, index: number, reason: string } | null }
  heads: { ok: boolean, heads: number, evidence: number, problems: string[] }
  evidence: unknown[]
}

/** One line about an entry: its kind, who did the work for whom, and when. */
function describe (e: LedgerEntry): { kind: string, id: string, provider: string | null, requester: string | null, time: number, detail: string } {
  if ('record' in e) {
    return { kind: e.record.kind, id: e.record.id, provider: e.record.author, requester: null, time: e.record.time, detail: typeof e.record.data.title === 'string' ? e.record.data.title : typeof e.record.data.choice === 'string' ? `vote ${e.record.data.choice}` : '' }
  }
  const b = e.body
  const detail = b.kind === 'inference' ? `${b.promptTokens} + ${b.completionTokens} tokens` : b.kind === 'fl-round' ? `round ${b.round}, ${b.samples} samples` : `${b.queries} queries, ${b.rows} rows`
  return { kind: b.kind, id: b.id, provider: b.provider, requester: b.requester, time: b.endedAt, detail }
}

type SeenHead = LedgerStatus['seen'][number]

/** Each peer's largest head (the latest on a tie), with the number of its heads seen; a conflicting one wins. */
function latestPerLog (seen: SeenHead[]): Array<SeenHead & { count: number }> {
  const byLog = new Map<string, SeenHead & { count: number }>()
  for (const h of seen) {
    const best = byLog.get(h.log)
    const count = (best?.count ?? 0) + 1
    const better = best == null || (best.status !== 'conflicting' && (h.status === 'conflicting' || h.size > best.size || (h.size === best.size && h.timestamp > best.timestamp)))
    byLog.set(h.log, better ? { ...h, count } : { ...best, count })
  }
  return [...byLog.values()]
}

function Receipts (props: { size: number }) {
  // Pages count from the newest entry: page 0 is the last PAGE entries.
  const [page, setPage] = useState(0)
  const pages = Math.max(1, Math.ceil(props.size / PAGE))
  const end = Math.max(0, props.size - page * PAGE)
  const start = Math.max(0, end - PAGE)
  const receipts = useApi<{ size: number, receipts: Array<{ index: number, receipt: LedgerEntry }> }>(`/api/plexus/ledger/receipts?start=${start}&end=${end}`)
  const rows = [...(receipts.data?.receipts ?? [])].reverse().map(r => ({ index: r.index, ...describe(r.receipt) }))
  return (
    <Card title='Receipts and records'>
      <ErrorNote error={receipts.error} />
      {props.size === 0
        ? <Empty>The log is empty: receipts appear when this node serves or asks for work.</Empty>
        : <>
          <Table caption={`Entries ${start + 1}–${end} of ${props.size}, newest first`} rows={rows} rowKey={r => String(r.index)} columns={[
            { label: '#', value: r => r.index, numeric: true },
            { label: 'Kind', value: r => <span class={`kind kind-${r.kind}`}>{r.kind}</span> },
            { label: 'Provider / author', value: r => r.provider == null ? '–' : <Short value={r.provider} /> },
            { label: 'Requester', value: r => r.requester == null ? '–' : <Short value={r.requester} /> },
            { label: 'What', value: r => r.detail },
            { label: 'When', value: r => new Date(r.time).toLocaleString() }
          ]} />
          <div class='row'>
            <button type='button' disabled={page === 0} onClick={() => setPage(p => p - 1)}>Newer</button>
            <span class='muted'>page {page + 1} of {pages}</span>
            <button type='button' disabled={page + 1 >= pages} onClick={() => setPage(p => p + 1)}>Older</button>
          </div>
        </>}
    </Card>
  )
}

function Rewards () {
  const rewards = useApi<RewardsReport>('/api/plexus/rewards', 30_000)
  const epochs = rewards.data?.epochs ?? []
  const peers = useMemo(() => {
    const total = new Map<string, number>()
    for (const e of epochs) for (const r of e.rows) total.set(r.peer, (total.get(r.peer) ?? 0) + Number(r.rewardMicro))
    return [...total.entries()].sort((a, b) => b[1] - a[1]).slice(0, MAX_PEERS_CHARTED).map(([p]) => p)
  }, [epochs])
  const x = useMemo(() => epochs.map(e => e.epoch), [epochs])
  const series = useMemo(() => peers.map((p, i) => ({
    label: p.slice(-6),
    color: color(i),
    values: epochs.map(e => { const row = e.rows.find(r => r.peer === p); return row == null ? 0 : Number(row.rewardMicro) / 1e6 })
  })), [epochs, peers])
  const balances = Object.entries(rewards.data?.balances ?? {}).sort((a, b) => Number(BigInt(b[1]) - BigInt(a[1])))
  return (
    <Card title='Rewards per epoch'>
      <ErrorNote error={rewards.error} />
      <Loading loading={rewards.loading && rewards.data == null}>
        {epochs.length === 0
          ? <Empty>No finished epoch holds receipts yet.</Empty>
          : <LineChart title='Tokens earned per epoch' x={x} series={series} xLabel='epoch' yLabel='tokens' bars={epochs.length < 3} integerX />}
        {balances.length > 0 && (
          <Table caption={`Balances over ${epochs.length} settled epoch(s); ${rewards.data?.counted ?? 0} receipts counted, ${rewards.data?.rejected ?? 0} refused`} rows={balances} rowKey={b => b[0]} columns={[
            { label: 'Peer', value: b => <Short value={b[0]} /> },
            { label: 'Tokens', value: b => fmt(Number(b[1]) / 1e6), numeric: true }
          ]} />
        )}
        {(rewards.data?.unreachable.length ?? 0) > 0 && <p class='muted'>Could not read the logs of {rewards.data?.unreachable.length} peer(s).</p>}
      </Loading>
    </Card>
  )
}

export function LedgerPanel () {
  const ledger = useApi<LedgerStatus>('/api/plexus/ledger', 5000)
  const verify = useAction(async () => await api<VerifyAnswer>('/api/plexus/ledger/verify'))
  const publish = useAction(async () => await api('/api/plexus/ledger/heads', { method: 'POST' }))
  const [verdict, setVerdict] = useState<VerifyAnswer | undefined>(undefined)
  const d = ledger.data
  const evidence = verdict?.evidence ?? d?.evidence ?? []
  return (
    <Panel title='Ledger and rewards' actions={<>
      <button type='button' onClick={() => { void publish.run().then(ledger.reload) }} disabled={publish.running}>Sign a head now</button>
      <button type='button' class='primary' onClick={() => { setVerdict(undefined); void verify.run().then(setVerdict) }} disabled={verify.running}>{verify.running ? 'Verifying…' : 'Verify'}</button>
    </>}>
      <ErrorNote error={ledger.error ?? verify.error ?? publish.error} />
      {verdict != null && (
        <p class={verdict.log.ok && verdict.heads.ok ? 'verdict ok' : 'verdict error'} role='status' data-testid='verify-result'>
          {verdict.log.ok && verdict.heads.ok
            ? `Verified: ${verdict.log.size} entries, ${verdict.log.headsChecked} own head(s) and ${verdict.heads.heads} head(s) from peers check out.`
            : `Verification failed: ${verdict.log.firstBad != null ? `${verdict.log.firstBad.what} ${verdict.log.firstBad.index}: ${verdict.log.firstBad.reason}` : ''} ${verdict.heads.problems.join('; ')}`}
        </p>
      )}
      {evidence.length > 0 && (
        <p class='alert' role='alert'>Equivocation: {evidence.length} peer(s) signed two different heads for the same log size. <code class='wrap'>{JSON.stringify(evidence).slice(0, 400)}</code></p>
      )}
      <Loading loading={ledger.loading && d == null}>
        {d != null && (
          <div class='grid two'>
            <Card title='This log'>
              <dl class='facts'>
                <dt>Owner</dt><dd><Short value={d.owner} /></dd>
                <dt>Entries</dt><dd data-testid='ledger-size'>{fmt(d.size)}</dd>
                <dt>Root</dt><dd><Short value={d.root} keep={12} /></dd>
                <dt>Latest signed head</dt><dd>{d.head == null ? 'none yet' : <>size {d.head.head.size}, <Short value={d.head.head.root} />, {new Date(d.head.head.timestamp).toLocaleString()}</>}</dd>
              </dl>
            </Card>
            <Card title='Heads seen from peers'>
              {d.seen.length === 0
                ? <Empty>No peer head yet.</Empty>
                : <Table<SeenHead & { count: number }> caption='The largest head of each peer, and how many it signed' rows={latestPerLog(d.seen)} rowKey={h => h.log} columns={[
                  { label: 'Log', value: h => <Short value={h.log} /> },
                  { label: 'Size', value: h => fmt(h.size), numeric: true },
                  { label: 'Heads', value: h => fmt(h.count), numeric: true },
                  { label: 'Root', value: h => <Short value={h.root} /> },
                  { label: 'Status', value: h => <span class={h.status === 'trusted' ? 'ok' : h.status === 'conflicting' ? 'error' : ''} title={h.status === 'pending' ? 'waiting for a consistency proof from its log' : undefined}>{h.status}</span> }
                ]} />}
            </Card>
          </div>
        )}
        {d != null && <Receipts size={d.size} />}
      </Loading>
      <Rewards />
    </Panel>
  )
}

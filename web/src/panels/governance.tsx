import { useState } from 'preact/hooks'
import { api } from '../lib/api.js'
import { useAction, useApi } from '../lib/hooks.js'
import { Card, Empty, ErrorNote, fmt, Loading, Panel, Short } from '../lib/ui.js'
import type { ProposalView, Tally } from '../lib/types.js'

interface GovStatus {
  networkId: string
  rules: { mode: string, quorum: number, threshold: number, votingPeriodSeconds: number, timelockSeconds: number }
  members: string[]
  openMembership: boolean
  params: Array<{ name: string, value: unknown, rule: boolean, help: string }>
}

const CHOICES = ['yes', 'no', 'abstain'] as const

function describeChange (c: ProposalView['change']): string {
  return c.type === 'set' ? `set ${c.param} = ${JSON.stringify(c.value)}` : `${c.action} member ${c.peer}`
}

/** Yes / no / abstain as shares of the eligible weight. */
function TallyBar (props: { tally: Tally }) {
  const t = props.tally
  const eligible = Number(t.eligible)
  const share = (v: string): number => eligible > 0 ? (100 * Number(v)) / eligible : 0
  return (
    <div class='tally'>
      <div class='tally-bar' role='img' aria-label={`yes ${t.yes}, no ${t.no}, abstain ${t.abstain} of ${t.eligible}`}>
        <span class='yes' style={{ width: `${share(t.yes)}%` }} />
        <span class='no' style={{ width: `${share(t.no)}%` }} />
        <span class='abstain' style={{ width: `${share(t.abstain)}%` }} />
      </div>
      <p class='tally-text' data-testid='tally'>yes {t.yes} · no {t.no} · abstain {t.abstain} · of {t.eligible} eligible · quorum {t.quorumMet ? 'met' : 'not met'} · {t.passed ? 'passing' : 'not passing'}</p>
      {t.counted.length > 0 && (
        <ul class='votes' aria-label='Votes counted'>
          {t.counted.map(c => <li key={c.voter}><Short value={c.voter} /> <span class={`vote-${c.choice}`}>{c.choice}</span></li>)}
        </ul>
      )}
    </div>
  )
}

function Proposal (props: { p: ProposalView, self: string | null, onChange: () => void }) {
  const p = props.p
  const tally = useApi<{ tally: Tally }>(`/api/plexus/gov/proposals/${encodeURIComponent(p.id)}/tally`, 5000)
  const vote = useAction(async (choice: typeof CHOICES[number]) => await api(`/api/plexus/gov/proposals/${encodeURIComponent(p.id)}/votes`, { body: { choice } }))
  const mine = tally.data?.tally.counted.find(c => c.voter === props.self)?.choice
  const eligible = props.self != null && p.electorate.some(v => v.peer === props.self)
  return (
    <Card title={p.title} class='proposal'>
      <dl class='facts'>
        <dt>Change</dt><dd><code class='wrap'>{describeChange(p.change)}</code></dd>
        <dt>State</dt><dd><span class={`state state-${p.status}`}>{p.status}</span>{p.applied?.error != null && <span class='error'> — {p.applied.error}</span>}</dd>
        <dt>Author</dt><dd><Short value={p.author} /></dd>
        <dt>Voting ends</dt><dd>{new Date(p.end).toLocaleString()}</dd>
        <dt>Takes effect</dt><dd>{new Date(p.applyAt).toLocaleString()}</dd>
        <dt>Rules</dt><dd>{p.mode} vote, quorum {fmt(p.quorum * 100)}%, threshold {fmt(p.threshold * 100)}%, {p.electorate.length} voter(s)</dd>
      </dl>
      {p.description !== '' && <p>{p.description}</p>}
      <ErrorNote error={tally.error ?? vote.error} />
      {tally.data != null && <TallyBar tally={p.outcome ?? tally.data.tally} />}
      {p.status === 'voting' && (
        eligible
          ? <div class='row' role='group' aria-label={`Vote on ${p.title}`}>
            {CHOICES.map(c => (
              <button key={c} type='button' class={mine === c ? 'primary' : ''} aria-pressed={mine === c} disabled={vote.running}
                onClick={() => { void vote.run(c).then(() => { tally.reload(); props.onChange() }) }}>Vote {c}</button>
            ))}
            {mine != null && <span class='muted'>this node voted {mine}; a later vote replaces it until the end</span>}
          </div>
          : <p class='muted'>This node is not in this proposal's electorate.</p>
      )}
    </Card>
  )
}

function Propose (props: { status: GovStatus, onCreated: () => void }) {
  const params = props.status.params
  const [param, setParam] = useState(params[0]?.name ?? '')
  const [value, setValue] = useState('')
  const [title, setTitle] = useState('')
  const [description, setDescription] = useState('')
  const [period, setPeriod] = useState('')
  const current = params.find(x => x.name === param)
  const propose = useAction(async () => {
    let v: unknown
    try { v = JSON.parse(value) } catch { v = value }
    return await api('/api/plexus/gov/proposals', {
      body: { title: title.trim(), description, change: { type: 'set', param, value: v }, ...(period !== '' ? { votingPeriodSeconds: Number(period) } : {}) }
    })
  })
  return (
    <Card title='Propose a parameter change'>
      <form class='form-grid' onSubmit={e => { e.preventDefault(); void propose.run().then(r => { if (r != null) { setTitle(''); setValue(''); props.onCreated() } }) }}>
        <label>Parameter
          <select value={param} onChange={e => setParam((e.target as HTMLSelectElement).value)}>
            {params.map(x => <option key={x.name} value={x.name}>{x.name}{x.rule ? ' (rule)' : ''}</option>)}
          </select>
        </label>
        <label>New value (JSON) <input value={value} required onInput={e => setValue((e.target as HTMLInputElement).value)} /></label>
        <label class='span'>Title <input value={title} required maxLength={200} onInput={e => setTitle((e.target as HTMLInputElement).value)} /></label>
        <label class='span'>Why <textarea value={description} maxLength={4000} onInput={e => setDescription((e.target as HTMLTextAreaElement).value)} /></label>
        <label>Voting period (s) <input type='number' min={props.status.rules.votingPeriodSeconds} value={period} placeholder={String(props.status.rules.votingPeriodSeconds)} onInput={e => setPeriod((e.target as HTMLInputElement).value)} /></label>
        <div class='row span'>
          <button type='submit' class='primary' disabled={propose.running}>Propose</button>
          {current != null && <span class='muted'>{current.help}; now <code>{JSON.stringify(current.value)}</code></span>}
        </div>
      </form>
      <ErrorNote error={propose.error} />
    </Card>
  )
}

export function GovernancePanel () {
  const status = useApi<GovStatus>('/api/plexus/gov')
  const proposals = useApi<{ proposals: ProposalView[] }>('/api/plexus/gov/proposals', 5000)
  const node = useApi<{ network: { peerId: string } | null }>('/api/plexus/status')
  const self = node.data?.network?.peerId ?? null
  const s = status.data
  return (
    <Panel title='Governance'>
      <ErrorNote error={status.error ?? proposals.error} />
      {s != null && (
        <p class='muted'>
          Network <code>{s.networkId}</code>: {s.rules.mode} voting, quorum {fmt(s.rules.quorum * 100)}%, threshold {fmt(s.rules.threshold * 100)}%,
          voting period {fmt(s.rules.votingPeriodSeconds)} s, timelock {fmt(s.rules.timelockSeconds)} s; {s.openMembership ? 'open membership (every peer seen votes)' : `${s.members.length} member(s)`}.
        </p>
      )}
      <Loading loading={proposals.loading && proposals.data == null}>
        {proposals.data?.proposals.length === 0 && <Empty>No proposals yet.</Empty>}
        {proposals.data?.proposals.map(p => <Proposal key={p.id} p={p} self={self} onChange={proposals.reload} />)}
      </Loading>
      {s != null && <Propose status={s} onCreated={proposals.reload} />}
    </Panel>
  )
}

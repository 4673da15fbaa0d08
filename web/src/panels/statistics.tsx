import { useState } from 'preact/hooks'
import { api } from '../lib/api.js'
import { LineChart, color } from '../lib/chart.js'
import { useAction, useApi } from '../lib/hooks.js'
import { Card, Empty, ErrorNote, fmt, Loading, Panel, Short, Table } from '../lib/ui.js'
import type { Dataset, StatsFunction, StatsResult } from '../lib/types.js'

/** The approved functions (src/analytics/functions.ts), with what each needs. */
const FUNCTIONS: Array<{ fn: StatsFunction, help: string }> = [
  { fn: 'count', help: 'rows (no columns; filter with where)' },
  { fn: 'sum', help: 'one or more numeric columns, optional by' },
  { fn: 'mean', help: 'one or more numeric columns, optional by' },
  { fn: 'var', help: 'one or more numeric columns, optional by' },
  { fn: 'sd', help: 'one or more numeric columns, optional by' },
  { fn: 'quantiles', help: 'one numeric column, range and bins' },
  { fn: 'histogram', help: 'one numeric column, range and bins' },
  { fn: 'table', help: 'one or two factor columns' },
  { fn: 'cor', help: 'two or more numeric columns' },
  { fn: 'ttest', help: 'one numeric column and a two-level by, or mu' },
  { fn: 'chisq', help: 'two factor columns' },
  { fn: 'glm', help: 'response then predictors; family' }
]

interface SiteOutcome { peer: string, status: string, code?: string, message?: string, approval?: string }
interface QueryAnswer { id: string, sites: SiteOutcome[], pooled: StatsResult | null, complete: boolean, secure: boolean }
interface Approval { id: string, analyst: string, query: Record<string, unknown>, status: string, requestedAt: string, decidedAt: string | null }

const SUPPRESSED = <span class='suppressed-cell' title='Below the disclosure threshold at a site: withheld'>suppressed</span>

/** A pooled result as tables (and a chart where one helps); suppressed cells are marked. */
function Result (props: { result: StatsResult }) {
  const r = props.result
  switch (r.fn) {
    case 'count':
      return <p class='stat-big'>n = <strong>{fmt(r.n)}</strong></p>
    case 'sum': case 'mean': case 'var': case 'sd': {
      const columns = r.groups[0]?.values.map(v => v.column) ?? []
      const first = columns[0]
      return <>
        {r.by != null && first != null && (
          <LineChart title={`${r.fn} of ${first} by ${r.by}`} x={r.groups.map((_g, i) => i)} categories={r.groups.map(g => g.level ?? '–')} xLabel={r.by} yLabel={first} bars
            series={[{ label: first, color: color(0), values: r.groups.map(g => g.suppressed ? null : g.values[0]?.value ?? null) }]} />
        )}
        <Table
        caption={`${r.fn}${r.by != null ? ` by ${r.by}` : ''}`}
        rows={r.groups}
        rowKey={(g, i) => `${g.level ?? 'all'}-${i}`}
        columns={[
          ...(r.by != null ? [{ label: r.by, value: (g: typeof r.groups[number]) => g.level ?? '–' }] : []),
          { label: 'n', value: g => g.suppressed ? SUPPRESSED : fmt(g.n), numeric: true },
          ...columns.map((c, j) => ({ label: c, value: (g: typeof r.groups[number]) => g.suppressed ? SUPPRESSED : fmt(g.values[j]?.value), numeric: true }))
        ]}
        />
      </>
    }
    case 'histogram': {
      const rows = r.counts.map((n, i) => ({ i, from: r.edges[i] ?? 0, to: r.edges[i + 1] ?? 0, n, hidden: r.suppressed.includes(i + 1) }))
      return <>
        <LineChart title={`Histogram of ${r.column}`} x={rows.map(b => (b.from + b.to) / 2)} series={[{ label: 'count', color: color(0), values: rows.map(b => b.hidden ? null : b.n) }]} xLabel={r.column} yLabel='rows' bars />
        <Table caption={`${fmt(r.below)} below the range, ${fmt(r.above)} above`} rows={rows} rowKey={b => String(b.i)} columns={[
          { label: 'From', value: b => fmt(b.from), numeric: true },
          { label: 'To', value: b => fmt(b.to), numeric: true },
          { label: 'Rows', value: b => b.hidden ? SUPPRESSED : fmt(b.n), numeric: true }
        ]} />
      </>
    }
    case 'quantiles':
      return <Table caption={`Quantiles of ${r.column} (n = ${fmt(r.n)})`} rows={r.probs.map((p, i) => ({ p, q: r.quantiles[i] ?? null }))} rowKey={x => String(x.p)} columns={[
        { label: 'Probability', value: x => fmt(x.p), numeric: true },
        { label: r.column, value: x => fmt(x.q), numeric: true }
      ]} />
    case 'table': case 'chisq': {
      const [rowsLv = [], colsLv = ['n']] = r.levels
      const hidden = r.fn === 'table' ? r.suppressed : []
      return <>
        {r.levels.length === 1 && (
          <LineChart title={`Rows by ${r.columns[0] ?? ''}`} x={rowsLv.map((_l, i) => i)} categories={rowsLv} xLabel={r.columns[0] ?? ''} yLabel='rows' bars
            series={[{ label: 'rows', color: color(0), values: rowsLv.map((_l, i) => hidden.includes(i) ? null : r.counts[i]?.[0] ?? null) }]} />
        )}
        <Table caption={r.columns.join(' × ')} rows={rowsLv.map((level, i) => ({ level, i }))} rowKey={x => x.level} columns={[
          { label: r.columns[0] ?? '', value: x => x.level },
          ...colsLv.map((c, j) => ({ label: c, value: (x: { i: number }) => hidden.includes(x.i * colsLv.length + j) ? SUPPRESSED : fmt(r.counts[x.i]?.[j]), numeric: true }))
        ]} />
        {r.fn === 'chisq' && <p>χ² = {fmt(r.statistic)}, df = {r.df}, p = {fmt(r.p)}</p>}
      </>
    }
    case 'cor':
      return <Table caption={`Correlations (n = ${fmt(r.n)})`} rows={r.columns.map((c, i) => ({ c, i }))} rowKey={x => x.c} columns={[
        { label: '', value: x => x.c },
        ...r.columns.map((c, j) => ({ label: c, value: (x: { i: number }) => fmt(r.matrix[x.i]?.[j]), numeric: true }))
      ]} />
    case 'ttest':
      return <>
        <Table caption={`t-test of ${r.column}${r.by != null ? ` by ${r.by}` : ` against μ = ${fmt(r.mu)}`}`} rows={r.n.map((n, i) => ({ i, n }))} rowKey={x => String(x.i)} columns={[
          { label: 'Group', value: x => r.levels[x.i] ?? 'all' },
          { label: 'n', value: x => fmt(x.n), numeric: true },
          { label: 'Mean', value: x => fmt(r.means[x.i]), numeric: true },
          { label: 'Variance', value: x => fmt(r.variances[x.i]), numeric: true }
        ]} />
        <p>t = {fmt(r.t)}, df = {fmt(r.df)}, p = {fmt(r.p)}</p>
      </>
    case 'glm':
      return <Table caption={`GLM (${r.family}), n = ${fmt(r.n)}, deviance ${fmt(r.deviance)}`} rows={r.terms} rowKey={t => t.term} columns={[
        { label: 'Term', value: t => t.term },
        { label: 'Estimate', value: t => fmt(t.estimate), numeric: true },
        { label: 'Std. error', value: t => fmt(t.standardError), numeric: true },
        { label: 'Statistic', value: t => fmt(t.statistic), numeric: true },
        { label: 'p', value: t => fmt(t.p), numeric: true }
      ]} />
  }
}

function list (s: string): string[] {
  return s.split(',').map(x => x.trim()).filter(x => x !== '')
}

function QueryForm () {
  const datasets = useApi<{ datasets: Dataset[] }>('/api/plexus/data')
  const [f, setF] = useState({ dataset: '', fn: 'count' as StatsFunction, columns: '', by: '', where: '', low: '', high: '', bins: '', mu: '', family: 'gaussian', partial: true })
  const set = (k: keyof typeof f) => (e: Event) => { const t = e.target as HTMLInputElement; setF(v => ({ ...v, [k]: t.type === 'checkbox' ? t.checked : t.value })) }
  const query = useAction(async () => {
    const body: Record<string, unknown> = { dataset: f.dataset.trim(), fn: f.fn, columns: list(f.columns), partial: f.partial }
    if (f.by.trim() !== '') body.by = f.by.trim()
    if (f.where.trim() !== '') body.where = f.where.trim()
    if (f.low !== '' && f.high !== '') body.range = [Number(f.low), Number(f.high)]
    if (f.bins !== '') body.bins = Number(f.bins)
    if (f.mu !== '') body.mu = Number(f.mu)
    if (f.fn === 'glm') body.family = f.family
    return await api<QueryAnswer>('/api/plexus/stats/query', { body })
  })
  const [answer, setAnswer] = useState<QueryAnswer | undefined>(undefined)
  const needsRange = f.fn === 'histogram' || f.fn === 'quantiles'

  return (
    <Card title='Query the network'>
      <form class='form-grid' onSubmit={e => { e.preventDefault(); setAnswer(undefined); void query.run().then(a => setAnswer(a)) }}>
        <label>Dataset
          <input value={f.dataset} onInput={set('dataset')} list='stats-datasets' required maxLength={64} />
          <datalist id='stats-datasets'>{datasets.data?.datasets.map(d => <option key={d.name} value={d.name} />)}</datalist>
        </label>
        <label>Function
          <select value={f.fn} onChange={set('fn')}>{FUNCTIONS.map(x => <option key={x.fn} value={x.fn}>{x.fn}</option>)}</select>
        </label>
        <label>Columns (comma-separated) <input value={f.columns} onInput={set('columns')} disabled={f.fn === 'count'} /></label>
        <label>By (factor) <input value={f.by} onInput={set('by')} /></label>
        <label class='span'>Where <input value={f.where} onInput={set('where')} placeholder='e.g. age > 40' maxLength={2000} /></label>
        {needsRange && <>
          <label>Range low <input type='number' step='any' value={f.low} onInput={set('low')} required /></label>
          <label>Range high <input type='number' step='any' value={f.high} onInput={set('high')} required /></label>
          <label>Bins <input type='number' min={1} max={1000} value={f.bins} onInput={set('bins')} required /></label>
        </>}
        {f.fn === 'ttest' && <label>μ (one sample) <input type='number' step='any' value={f.mu} onInput={set('mu')} /></label>}
        {f.fn === 'glm' && <label>Family <select value={f.family} onChange={set('family')}><option>gaussian</option><option>binomial</option></select></label>}
        <label class='check'><input type='checkbox' checked={f.partial} onChange={set('partial')} /> pool the sites that answer</label>
        <div class='row span'>
          <button type='submit' class='primary' disabled={query.running}>{query.running ? 'Running…' : 'Run query'}</button>
          <span class='muted'>{FUNCTIONS.find(x => x.fn === f.fn)?.help}</span>
        </div>
      </form>
      <ErrorNote error={query.error} />
      {answer != null && (
        <div class='stats-answer'>
          <h4>Pooled result {answer.complete ? '' : '(not every site answered)'}{answer.secure ? ' · secure aggregation' : ''}</h4>
          {answer.pooled == null ? <Empty>No site released an answer.</Empty> : <Result result={answer.pooled} />}
          <Table caption='Sites' rows={answer.sites} rowKey={s => s.peer} columns={[
            { label: 'Site', value: s => <Short value={s.peer} /> },
            { label: 'Answer', value: s => <span class={s.status === 'ok' ? 'ok' : s.status === 'queued' ? 'muted' : 'error'}>{s.status}</span> },
            { label: 'Why', value: s => s.status === 'queued' ? `waiting for the owner's approval (${s.approval ?? ''})` : (s.message ?? '') }
          ]} />
        </div>
      )}
    </Card>
  )
}

function Approvals () {
  const approvals = useApi<{ approvals: Approval[] }>('/api/plexus/stats/approvals', 5000)
  const decide = useAction(async (id: string, decision: 'approve' | 'deny') => await api(`/api/plexus/stats/approvals/${encodeURIComponent(id)}/${decision}`, { method: 'POST' }))
  const rows = [...(approvals.data?.approvals ?? [])].reverse()
  return (
    <Card title="Owner's approval queue">
      <ErrorNote error={approvals.error ?? decide.error} />
      <Loading loading={approvals.loading && approvals.data == null}>
        {rows.length === 0
          ? <Empty>No analyst has asked for a query that needs approval.</Empty>
          : <Table caption='Queries from analysts that this node does not answer without the owner' rows={rows} rowKey={a => a.id} columns={[
            { label: 'Analyst', value: a => <Short value={a.analyst} /> },
            { label: 'Query', value: a => <code class='wrap'>{JSON.stringify(a.query)}</code> },
            { label: 'Asked', value: a => new Date(a.requestedAt).toLocaleString() },
            { label: 'State', value: a => <span data-testid='approval-state'>{a.status}</span> },
            {
              label: 'Decision',
              value: a => a.status === 'pending'
                ? <span class='row'>
                  <button type='button' class='primary' disabled={decide.running} onClick={() => { void decide.run(a.id, 'approve').then(approvals.reload) }}>Approve</button>
                  <button type='button' disabled={decide.running} onClick={() => { void decide.run(a.id, 'deny').then(approvals.reload) }}>Deny</button>
                </span>
                : (a.decidedAt != null ? new Date(a.decidedAt).toLocaleString() : '–')
            }
          ]} />}
      </Loading>
    </Card>
  )
}

export function StatisticsPanel () {
  return (
    <Panel title='Statistics'>
      <p class='muted'>Federated statistics: each site computes on its own rows and releases only aggregates that pass its disclosure rules; cells below a site's threshold are shown as <em>suppressed</em>.</p>
      <QueryForm />
      <Approvals />
    </Panel>
  )
}

import { useEffect, useMemo, useState } from 'preact/hooks'
import { api, streamEvents } from '../lib/api.js'
import { LineChart, color } from '../lib/chart.js'
import { useAction, useApi } from '../lib/hooks.js'
import { Card, Empty, ErrorNote, fmt, Loading, Panel, Short, Table } from '../lib/ui.js'
import type { Dataset, FlJob, FlParticipation, FlRound, FlTemplateJob, FlTemplates } from '../lib/types.js'

const ENDED = ['completed', 'failed', 'stopped']

type JobEvent = { type: 'round', record: FlRound } | { type: 'status', status: string, reason: string | null }

/** A job's rounds as they finish (server-sent events), and its status. */
function useRounds (id: string): { rounds: FlRound[], status: string | null, reason: string | null, error: Error | undefined } {
  const [rounds, setRounds] = useState<FlRound[]>([])
  const [status, setStatus] = useState<{ status: string | null, reason: string | null }>({ status: null, reason: null })
  const [error, setError] = useState<Error | undefined>(undefined)
  useEffect(() => {
    const controller = new AbortController()
    setRounds([])
    setError(undefined)
    streamEvents(`/api/plexus/fl/jobs/${encodeURIComponent(id)}/events`, data => {
      const e = data as JobEvent
      if (e.type === 'round') setRounds(r => [...r.filter(x => x.round !== e.record.round), e.record].sort((a, b) => a.round - b.round))
      else setStatus({ status: e.status, reason: e.reason })
    }, { signal: controller.signal }).catch((e: unknown) => { if (!controller.signal.aborted) setError(e instanceof Error ? e : new Error(String(e))) })
    return () => controller.abort()
  }, [id])
  return { rounds, ...status, error }
}

function JobDetail (props: { job: FlJob, onChange: () => void }) {
  const { rounds, status, reason, error } = useRounds(props.job.id)
  const stop = useAction(async () => await api(`/api/plexus/fl/jobs/${encodeURIComponent(props.job.id)}/stop`, { method: 'POST' }))
  const current = status ?? props.job.status
  useEffect(() => { if (status != null) props.onChange() }, [status, rounds.length])
  const x = useMemo(() => rounds.map(r => r.round), [rounds])
  const accuracy = useMemo(() => [{ label: 'accuracy', color: color(2), values: rounds.map(r => r.evaluation?.accuracy ?? null) }], [rounds])
  const loss = useMemo(() => [
    { label: 'evaluation loss', color: color(1), values: rounds.map(r => r.evaluation?.loss ?? null) },
    { label: 'training loss', color: color(0), values: rounds.map(r => r.trainLoss) }
  ], [rounds])
  const last = rounds[rounds.length - 1]
  return (
    <Card title={`Job ${props.job.name}`} class='fl-job'>
      <dl class='facts'>
        <dt>Id</dt><dd><code>{props.job.id}</code></dd>
        <dt>State</dt><dd><span class={`state state-${current}`} data-testid='fl-state'>{current}</span>{(reason ?? props.job.reason) != null && <span class='muted'> — {reason ?? props.job.reason}</span>}</dd>
        <dt>Rounds</dt><dd data-testid='fl-rounds'>{rounds.length} of {props.job.rounds} finished</dd>
        <dt>Participants</dt>
        <dd>
          {props.job.roster.length === 0 ? '–' : props.job.roster.map(p => <div key={p}><Short value={p} /> {last?.contributed.includes(p) === true ? <span class='ok'>contributed</span> : last?.dropped.includes(p) === true ? <span class='error'>dropped</span> : null}</div>)}
          {props.job.pending.map(p => <div key={p}><Short value={p} /> <span class='muted'>invited</span></div>)}
          {props.job.declined.map(d => <div key={d.peer}><Short value={d.peer} /> <span class='error'>declined: {d.reason}</span></div>)}
        </dd>
        <dt>Parameters</dt><dd>{fmt(props.job.parameters)}</dd>
        {last?.epsilon != null && <><dt>Privacy spent</dt><dd>ε = {fmt(last.epsilon)}</dd></>}
      </dl>
      {!ENDED.includes(current) && (
        <div class='row'><button type='button' onClick={() => { void stop.run().then(props.onChange) }} disabled={stop.running}>Stop job</button></div>
      )}
      <ErrorNote error={stop.error ?? error} />
      {rounds.length === 0
        ? <Empty>No round has finished yet; the charts fill in as rounds finish.</Empty>
        : (
          <div class='grid two'>
            <LineChart title='Accuracy per round' x={x} series={accuracy} xLabel='round' yLabel='accuracy' integerX />
            <LineChart title='Loss per round' x={x} series={loss} xLabel='round' yLabel='loss' integerX />
          </div>
          )}
    </Card>
  )
}

function NewJob (props: { onCreated: (job: FlTemplateJob) => void }) {
  const templates = useApi<FlTemplates>('/api/plexus/fl/templates')
  const datasets = useApi<{ datasets: Dataset[] }>('/api/plexus/data')
  const [template, setTemplate] = useState('')
  const [dataset, setDataset] = useState('')
  const [label, setLabel] = useState('')
  const [name, setName] = useState('')
  const [rounds, setRounds] = useState('')
  const [classes, setClasses] = useState('2')
  const [created, setCreated] = useState<FlTemplateJob | null>(null)
  const create = useAction(async () => await api<FlTemplateJob>(`/api/plexus/fl/templates/${encodeURIComponent(template)}/jobs`, {
    body: { name: name.trim(), dataset, label, classes: Number(classes), ...(rounds !== '' ? { rounds: Number(rounds) } : {}) }
  }))

  const list = templates.data?.templates ?? []
  const chosen = list.find(t => t.id === template)
  const ds = datasets.data?.datasets.find(d => d.name === dataset)
  useEffect(() => { if (template === '' && list[0] != null) setTemplate(list[0].id) }, [list.length])
  useEffect(() => { const first = datasets.data?.datasets[0]; if (dataset === '' && first != null) setDataset(first.name) }, [datasets.data])
  useEffect(() => { if (ds != null && !ds.allowedColumns.includes(label)) setLabel(ds.allowedColumns.includes('label') ? 'label' : (ds.allowedColumns[ds.allowedColumns.length - 1] ?? '')) }, [ds])
  useEffect(() => { if (chosen != null) setRounds(String((chosen.spec as { rounds?: number }).rounds ?? '')) }, [chosen?.id])

  return (
    <Card title='New job from a template'>
      <Loading loading={templates.loading && templates.data == null}>
        <ErrorNote error={templates.error ?? datasets.error} />
        {datasets.data != null && datasets.data.datasets.length === 0
          ? <Empty>No local dataset yet: register one with <code>plexus data add NAME FILE</code> (or POST /api/plexus/data), e.g. the bundled datasets/breast_cancer.csv.</Empty>
          : (
            <form class='form-grid' onSubmit={e => { e.preventDefault(); void create.run().then(j => { if (j != null) { setCreated(j); props.onCreated(j) } }) }}>
              <label>Template
                <select value={template} onChange={e => setTemplate((e.target as HTMLSelectElement).value)}>
                  {list.map(t => <option key={t.id} value={t.id}>{t.title}</option>)}
                </select>
              </label>
              <label>Job name <input value={name} required maxLength={128} onInput={e => setName((e.target as HTMLInputElement).value)} /></label>
              <label>Dataset
                <select value={dataset} onChange={e => setDataset((e.target as HTMLSelectElement).value)}>
                  {datasets.data?.datasets.map(d => <option key={d.name} value={d.name}>{d.name} ({fmt(d.rows)} rows)</option>)}
                </select>
              </label>
              <label>Label column
                <select value={label} onChange={e => setLabel((e.target as HTMLSelectElement).value)}>
                  {ds?.allowedColumns.map(c => <option key={c} value={c}>{c}</option>)}
                </select>
              </label>
              <label>Classes <input type='number' min={2} max={10000} value={classes} required onInput={e => setClasses((e.target as HTMLInputElement).value)} /></label>
              <label>Rounds <input type='number' min={1} max={10000} value={rounds} onInput={e => setRounds((e.target as HTMLInputElement).value)} /></label>
              <div class='row span'>
                <button type='submit' class='primary' disabled={create.running || template === '' || dataset === ''}>Start job</button>
                {chosen != null && <span class='muted'>{chosen.description} Features: every other allowed column of the dataset.</span>}
              </div>
            </form>
            )}
        <ErrorNote error={create.error} />
        {created != null && (
          <p class='muted' data-testid='fl-created'>
            Started {created.name}; its template hash is <Short value={created.template.hash} keep={12} />
            {created.template.approved ? ', which governance approved: sites join it without review.' : ' (not approved by governance: each site\'s owner decides, unless it accepts this node\'s jobs automatically).'}
          </p>
        )}
        {templates.data != null && templates.data.approved.length > 0 && (
          <p class='muted'>Governance approved {templates.data.approved.length} template hash(es): sites join such jobs without review.</p>
        )}
      </Loading>
    </Card>
  )
}

export function FederatedPanel () {
  const jobs = useApi<{ jobs: FlJob[], participating: FlParticipation[] }>('/api/plexus/fl/jobs', 5000)
  const [selected, setSelected] = useState<string | null>(null)
  const offer = useAction(async (id: string, decision: 'join' | 'decline') => await api(`/api/plexus/fl/offers/${encodeURIComponent(id)}/${decision}`, { method: 'POST' }))
  const list = jobs.data?.jobs ?? []
  const newest = [...list].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  const job = list.find(j => j.id === selected) ?? newest[0]

  return (
    <Panel title='Federated learning'>
      <ErrorNote error={jobs.error} />
      <NewJob onCreated={j => { setSelected(j.id); jobs.reload() }} />
      <Loading loading={jobs.loading && jobs.data == null}>
        <Card title='Jobs this node coordinates'>
          {newest.length === 0
            ? <Empty>No jobs yet.</Empty>
            : <Table
                rows={newest}
                rowKey={j => j.id}
                columns={[
                  { label: 'Job', value: j => <button type='button' class='link' aria-pressed={j.id === job?.id} onClick={() => setSelected(j.id)}>{j.name}</button> },
                  { label: 'State', value: j => <span class={`state state-${j.status}`}>{j.status}</span> },
                  { label: 'Round', value: j => `${j.round}/${j.rounds}`, numeric: true },
                  { label: 'Participants', value: j => j.roster.length, numeric: true },
                  { label: 'Accuracy', value: j => fmt(j.lastAccuracy), numeric: true },
                  { label: 'Created', value: j => new Date(j.createdAt).toLocaleString() }
                ]}
              />}
        </Card>
        {job != null && <JobDetail key={job.id} job={job} onChange={jobs.reload} />}
        <Card title='Jobs this node takes part in'>
          <ErrorNote error={offer.error} />
          {(jobs.data?.participating.length ?? 0) === 0
            ? <Empty>No offers from coordinators yet.</Empty>
            : <Table
                rows={jobs.data?.participating ?? []}
                rowKey={p => p.jobId}
                columns={[
                  { label: 'Job', value: p => p.name },
                  { label: 'Coordinator', value: p => <Short value={p.coordinator} /> },
                  { label: 'Dataset', value: p => p.dataset },
                  { label: 'State', value: p => <>{p.status}{p.reason != null && <span class='muted'> — {p.reason}</span>}</> },
                  { label: 'Rounds trained', value: p => p.roundsTrained, numeric: true },
                  {
                    label: 'Offer',
                    value: p => p.status === 'pending'
                      ? <span class='row'>
                        <button type='button' onClick={() => { void offer.run(p.jobId, 'join').then(jobs.reload) }} disabled={offer.running}>Join</button>
                        <button type='button' onClick={() => { void offer.run(p.jobId, 'decline').then(jobs.reload) }} disabled={offer.running}>Decline</button>
                      </span>
                      : '–'
                  }
                ]}
              />}
        </Card>
      </Loading>
    </Panel>
  )
}

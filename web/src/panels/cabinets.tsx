import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { api, fileBase64, postWithProgress } from '../lib/api.js'
import { useAction, useApi } from '../lib/hooks.js'
import { Card, Empty, ErrorNote, fmt, Loading, Panel, Table } from '../lib/ui.js'
import type { AskResult, AuditEntry, CabinetDocument, CabinetSummary, SearchResult } from '../lib/types.js'
import { bytes } from '../lib/format.js'

const base = (name: string): string => `/api/plexus/cabinets/${encodeURIComponent(name)}`
const when = (ms: number): string => new Date(ms).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'medium' })

function CreateForm (props: { onCreated: (name: string) => void }) {
  const [name, setName] = useState('')
  const [passphrase, setPassphrase] = useState('')
  const create = useAction(async () => await api<CabinetSummary>('/api/plexus/cabinets', { body: { name: name.trim(), passphrase } }))
  return (
    <Card title='New cabinet'>
      <form
        class='stack' onSubmit={e => {
          e.preventDefault()
          void create.run().then(c => { if (c != null) { setName(''); setPassphrase(''); props.onCreated(c.name) } })
        }}
      >
        <label>Name <input required maxLength={64} value={name} onInput={e => setName((e.target as HTMLInputElement).value)} /></label>
        <label>Passphrase <input type='password' required autocomplete='new-password' value={passphrase} onInput={e => setPassphrase((e.target as HTMLInputElement).value)} /></label>
        <div class='row'><button type='submit' class='primary' disabled={create.running}>{create.running ? 'Creating…' : 'Create'}</button></div>
      </form>
      <ErrorNote error={create.error} />
    </Card>
  )
}

function LockControl (props: { cabinet: CabinetSummary, onChange: () => void }) {
  const [passphrase, setPassphrase] = useState('')
  const unlock = useAction(async () => await api<CabinetSummary>(`${base(props.cabinet.name)}/unlock`, { body: { passphrase } }))
  const lock = useAction(async () => await api(`${base(props.cabinet.name)}/lock`, { body: {} }))
  if (!props.cabinet.locked) {
    return (
      <div class='row'>
        <span class='ok'>Unlocked</span>
        <button type='button' disabled={lock.running} onClick={() => { void lock.run().then(props.onChange) }}>Lock</button>
        <ErrorNote error={lock.error} />
      </div>
    )
  }
  return (
    <form
      class='row' onSubmit={e => {
        e.preventDefault()
        void unlock.run().then(r => { if (r != null) { setPassphrase(''); props.onChange() } })
      }}
    >
      <span class='muted'>Locked</span>
      <label>Passphrase <input type='password' required autocomplete='current-password' value={passphrase} onInput={e => setPassphrase((e.target as HTMLInputElement).value)} /></label>
      <button type='submit' class='primary' disabled={unlock.running}>Unlock</button>
      <ErrorNote error={unlock.error} />
    </form>
  )
}

interface FileProgress {
  name: string
  size: number
  sent: number
  state: 'waiting' | 'uploading' | 'ingesting' | 'done' | 'failed'
  note?: string
}

/** Uploads files one by one: upload progress, then ingest (parse, chunk, index) on the node. */
function Upload (props: { cabinet: string, onDone: () => void }) {
  const [files, setFiles] = useState<FileProgress[]>([])
  const [running, setRunning] = useState(false)
  const set = (i: number, patch: Partial<FileProgress>): void => setFiles(fs => fs.map((f, j) => j === i ? { ...f, ...patch } : f))

  const upload = async (list: File[]): Promise<void> => {
    setRunning(true)
    setFiles(list.map(f => ({ name: f.name, size: f.size, sent: 0, state: 'waiting' })))
    for (const [i, file] of list.entries()) {
      set(i, { state: 'uploading' })
      try {
        const content = await fileBase64(file)
        const r = await postWithProgress<{ outcome: string, chunks: number }>(`${base(props.cabinet)}/documents`, { filename: file.name, content_base64: content },
          (sent, total) => set(i, { sent: Math.round((sent / total) * file.size), state: sent >= total ? 'ingesting' : 'uploading' }))
        set(i, { sent: file.size, state: 'done', note: `${r.outcome}, ${r.chunks} chunk${r.chunks === 1 ? '' : 's'}` })
      } catch (err) {
        set(i, { state: 'failed', note: err instanceof Error ? err.message : String(err) })
      }
    }
    setRunning(false)
    props.onDone()
  }

  return (
    <div>
      <label>Upload files (text, Markdown, HTML, PDF…)
        <input
          type='file' multiple disabled={running} onChange={e => {
            const input = e.target as HTMLInputElement
            const list = [...(input.files ?? [])]
            input.value = ''
            if (list.length > 0) void upload(list)
          }}
        />
      </label>
      {files.length > 0 && (
        <ul class='uploads' aria-label='Uploads'>
          {files.map((f, i) => (
            <li key={i}>
              <span class='file'>{f.name}</span>
              <progress aria-label={`Upload of ${f.name}`} max={Math.max(1, f.size)} value={f.state === 'ingesting' || f.state === 'done' ? Math.max(1, f.size) : f.sent} />
              <span class={f.state === 'failed' ? 'error' : f.state === 'done' ? 'ok' : 'muted'}>
                {f.state === 'waiting' ? 'waiting' : f.state === 'uploading' ? `uploading ${bytes(f.sent)} of ${bytes(f.size)}` : f.state === 'ingesting' ? 'ingesting…' : f.state === 'done' ? `ingested: ${f.note ?? ''}` : `failed: ${f.note ?? ''}`}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}

/** One text field posted to the cabinet; the last answer is shown by `render`. */
function QueryCard<T> (props: { title: string, label: string, button: string, busy: string, send: (text: string) => Promise<T>, onDone: () => void, render: (result: T) => ComponentChildren }) {
  const [text, setText] = useState('')
  const action = useAction(props.send)
  const [result, setResult] = useState<T | null>(null)
  return (
    <Card title={props.title}>
      <form class='row' onSubmit={e => { e.preventDefault(); void action.run(text.trim()).then(r => { if (r != null) { setResult(r); props.onDone() } }) }}>
        <label class='grow'>{props.label} <input required value={text} onInput={e => setText((e.target as HTMLInputElement).value)} /></label>
        <button type='submit' class='primary' disabled={action.running}>{action.running ? props.busy : props.button}</button>
      </form>
      <ErrorNote error={action.error} />
      {result != null && props.render(result)}
    </Card>
  )
}

function SearchResults (props: { result: SearchResult }) {
  const r = props.result
  if (r.hits.length === 0) return <Empty>No matches.</Empty>
  return (
    <>
      <p class='muted'>{r.mode} search{r.fallbackReason != null && ` (${r.fallbackReason})`}</p>
      <ol class='hits' aria-label='Search results'>
        {r.hits.map(h => (
          <li key={h.chunkId}>
            <div><strong>{h.title ?? h.documentPath}</strong>{h.heading != null && <span class='muted'> › {h.heading}</span>} <span class='muted'>score {fmt(h.score)}</span></div>
            <div class='snippet'>{h.snippet}</div>
          </li>
        ))}
      </ol>
    </>
  )
}

function Answer (props: { result: AskResult }) {
  const r = props.result
  return (
    <div class='answer'>
      <p>{r.answer}</p>
      <p class='muted'>{r.mode === 'generated' ? `generated by ${r.model ?? 'a model'}` : 'extractive (quoted from the sources)'} · {r.privacy.level}</p>
      {r.citations.length > 0
        ? (
          <ol class='citations' aria-label='Citations'>
            {r.citations.map(c => (
              <li key={c.index}>
                <strong>[{c.index}] {c.title ?? c.documentPath}</strong> <span class='muted'>{c.documentPath}</span>
                <div class='snippet'>{c.snippet}</div>
              </li>
            ))}
          </ol>
          )
        : <Empty>No sources were found for this question.</Empty>}
    </div>
  )
}

/** What the selected cabinet holds and what can be done with it. */
function CabinetDetail (props: { cabinet: CabinetSummary, onChange: () => void }) {
  const c = props.cabinet
  const unlocked = !c.locked
  const docs = useApi<{ documents: CabinetDocument[] }>(unlocked ? `${base(c.name)}/documents?limit=200` : null)
  const audit = useApi<{ entries: AuditEntry[] }>(unlocked ? `${base(c.name)}/audit?limit=50` : null)
  const refresh = (): void => { docs.reload(); audit.reload(); props.onChange() }
  return (
    <div class='cabinet-detail'>
      <Card title={`Cabinet ${c.name}`}>
        <LockControl cabinet={c} onChange={props.onChange} />
        {c.stats != null && (
          <p class='muted'>{c.stats.documents} documents · {c.stats.chunks} chunks · {c.stats.vectors} vectors · {bytes(c.fileBytes)} on disk{c.stats.embeddingModel != null && ` · embeddings by ${c.stats.embeddingModel.name}`}</p>
        )}
        {unlocked && <Upload cabinet={c.name} onDone={refresh} />}
      </Card>
      {unlocked && (
        <>
          <Card title='Documents'>
            <ErrorNote error={docs.error} />
            {docs.data != null && (docs.data.documents.length === 0
              ? <Empty>No documents yet: upload some above.</Empty>
              : <Table
                  rows={docs.data.documents}
                  rowKey={d => String(d.id)}
                  columns={[
                    { label: 'Path', value: d => <code>{d.path}</code> },
                    { label: 'Title', value: d => d.title ?? '–' },
                    { label: 'Type', value: d => d.mime },
                    { label: 'Size', value: d => bytes(d.size), numeric: true },
                    { label: 'Chunks', value: d => d.chunkCount, numeric: true }
                  ]}
                />)}
          </Card>
          <div class='grid two'>
            <QueryCard
              title='Search' label='Query' button='Search' busy='Searching…' onDone={audit.reload}
              send={async query => await api<SearchResult>(`${base(c.name)}/search`, { body: { query, top_k: 5 } })}
              render={r => <SearchResults result={r} />}
            />
            <QueryCard
              title='Ask' label='Question' button='Ask' busy='Thinking…' onDone={audit.reload}
              send={async question => await api<AskResult>(`${base(c.name)}/ask`, { body: { question, top_k: 4 } })}
              render={r => <Answer result={r} />}
            />
          </div>
          <Card title='Audit log'>
            <ErrorNote error={audit.error} />
            {audit.data != null && (audit.data.entries.length === 0
              ? <Empty>Nothing recorded yet.</Empty>
              : <Table
                  caption='Latest first; queries are recorded as hashes, never in clear'
                  rows={audit.data.entries}
                  rowKey={a => String(a.id)}
                  columns={[
                    { label: 'When', value: a => when(a.at) },
                    { label: 'Action', value: a => a.action },
                    { label: 'Caller', value: a => a.caller ?? '–' },
                    { label: 'Results', value: a => a.resultCount ?? '–', numeric: true }
                  ]}
                />)}
          </Card>
        </>
      )}
    </div>
  )
}

export function CabinetsPanel () {
  const list = useApi<{ cabinets: CabinetSummary[] }>('/api/plexus/cabinets')
  const [selected, setSelected] = useState<string | null>(null)
  const cabinets = list.data?.cabinets ?? []
  const current = cabinets.find(c => c.name === selected) ?? null
  return (
    <Panel title='Cabinets' actions={<button type='button' onClick={list.reload}>Refresh</button>}>
      <p class='muted'>Encrypted document stores on this node: search them and ask questions answered with citations. Their contents never leave the node.</p>
      <ErrorNote error={list.error} />
      <div class='grid two'>
        <Card title='Cabinets'>
          <Loading loading={list.data == null && list.loading}>
            {cabinets.length === 0
              ? <Empty>No cabinets yet.</Empty>
              : (
                <ul class='cabinet-list'>
                  {cabinets.map(c => (
                    <li key={c.name}>
                      <button type='button' class={c.name === selected ? 'selected' : ''} aria-pressed={c.name === selected} onClick={() => setSelected(c.name)}>
                        {c.name} <span class='muted'>{c.locked ? 'locked' : `${c.stats?.documents ?? 0} docs`}</span>
                      </button>
                    </li>
                  ))}
                </ul>
                )}
          </Loading>
        </Card>
        <CreateForm onCreated={name => { setSelected(name); list.reload() }} />
      </div>
      {current != null && <CabinetDetail key={current.name} cabinet={current} onChange={list.reload} />}
    </Panel>
  )
}

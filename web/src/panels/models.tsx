import { useRef, useState } from 'preact/hooks'
import { api, ApiError, streamEvents } from '../lib/api.js'
import { useAction, useApi } from '../lib/hooks.js'
import { Card, Empty, ErrorNote, fmt, Loading, Panel, Short, Table } from '../lib/ui.js'
import type { InstalledModel, ModelsOverview, PullEvent } from '../lib/types.js'
import { bytes, count } from '../lib/format.js'

function stateOf (m: InstalledModel): string {
  if (m.loaded == null) return 'not loaded'
  const busy = m.loaded.active + m.loaded.waiting
  return `loaded, ${bytes(m.loaded.memoryBytes)}${busy > 0 ? ` · ${m.loaded.active} running, ${m.loaded.waiting} waiting` : ''}`
}

interface PullState {
  name: string
  received: number
  total: number | null
  done: boolean
  message?: string
}

/** Pull a model over HTTP(S): server-sent progress events, then the registered model. */
function PullForm (props: { onDone: () => void }) {
  const [url, setUrl] = useState('')
  const [sha256, setSha256] = useState('')
  const [name, setName] = useState('')
  const [state, setState] = useState<PullState | null>(null)
  const [error, setError] = useState<Error | undefined>(undefined)
  const [running, setRunning] = useState(false)
  const controller = useRef<AbortController | null>(null)

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    const c = new AbortController()
    controller.current = c
    setRunning(true)
    setError(undefined)
    const label = name.trim() !== '' ? name.trim() : (url.split('/').pop() ?? url)
    setState({ name: label, received: 0, total: null, done: false })
    try {
      await streamEvents('/api/plexus/models/pull', data => {
        const ev = data as PullEvent | { error: { message: string, code?: string } }
        if ('error' in ev) throw new ApiError(200, ev.error.code ?? 'pull_error', ev.error.message)
        if (ev.type === 'progress') setState(s => ({ ...(s as PullState), received: ev.receivedBytes, total: ev.totalBytes }))
        else {
          setState(s => ({
            ...(s as PullState),
            received: ev.model.sizeBytes,
            total: ev.model.sizeBytes,
            done: true,
            message: ev.alreadyRegistered ? `Already installed as ${ev.model.name} (same sha256).` : `Pulled and registered ${ev.model.name}.`
          }))
        }
      }, {
        body: { url: url.trim(), ...(sha256.trim() !== '' ? { sha256: sha256.trim() } : {}), ...(name.trim() !== '' ? { name: name.trim() } : {}) },
        signal: c.signal
      })
      setUrl('')
      setSha256('')
      setName('')
      props.onDone()
    } catch (err) {
      setState(s => s == null ? null : { ...s, message: c.signal.aborted ? 'Cancelled; pulling the same URL again resumes.' : undefined })
      if (!c.signal.aborted) setError(err instanceof Error ? err : new Error(String(err)))
    } finally {
      controller.current = null
      setRunning(false)
    }
  }

  const pct = state?.total != null && state.total > 0 ? Math.floor((state.received / state.total) * 100) : null
  return (
    <Card title='Pull by URL'>
      <form onSubmit={e => { void submit(e) }} class='stack'>
        <label>GGUF URL <input type='url' required value={url} onInput={e => setUrl((e.target as HTMLInputElement).value)} placeholder='https://…/model.Q4_K_M.gguf' disabled={running} /></label>
        <div class='row'>
          <label>Expected sha256 (optional) <input value={sha256} onInput={e => setSha256((e.target as HTMLInputElement).value)} pattern='[0-9a-fA-F]{64}' size={20} disabled={running} /></label>
          <label>Name (optional) <input value={name} onInput={e => setName((e.target as HTMLInputElement).value)} size={14} disabled={running} /></label>
        </div>
        <div class='row'>
          <button type='submit' class='primary' disabled={running}>Pull</button>
          <button type='button' disabled={!running} onClick={() => controller.current?.abort()}>Cancel</button>
        </div>
      </form>
      {state != null && (
        <div class='pull-progress'>
          <progress aria-label={`Pulling ${state.name}`} max={state.total ?? undefined} value={state.total != null ? state.received : undefined} />
          <span class='muted'>{bytes(state.received)}{state.total != null && ` of ${bytes(state.total)}`}{pct != null && ` (${pct}%)`}</span>
          {state.message != null && <p class={state.done ? 'ok' : 'muted'} role='status'>{state.message}</p>}
        </div>
      )}
      <ErrorNote error={error} />
    </Card>
  )
}

/** Register a GGUF file that is on the node's machine. */
function AddForm (props: { onDone: () => void }) {
  const [path, setPath] = useState('')
  const [name, setName] = useState('')
  const [added, setAdded] = useState<string | null>(null)
  const add = useAction(async () => await api<InstalledModel>('/api/plexus/models', { body: { path: path.trim(), ...(name.trim() !== '' ? { name: name.trim() } : {}) } }))
  return (
    <Card title='Add a file on this node'>
      <form
        class='stack' onSubmit={e => {
          e.preventDefault()
          setAdded(null)
          void add.run().then(m => { if (m != null) { setAdded(m.name); setPath(''); setName(''); props.onDone() } })
        }}
      >
        <label>Path on the node's machine <input required value={path} onInput={e => setPath((e.target as HTMLInputElement).value)} placeholder='/models/model.gguf' disabled={add.running} /></label>
        <label>Name (optional) <input value={name} onInput={e => setName((e.target as HTMLInputElement).value)} size={14} disabled={add.running} /></label>
        <div class='row'><button type='submit' class='primary' disabled={add.running}>{add.running ? 'Reading and hashing…' : 'Add'}</button></div>
      </form>
      {added != null && <p class='ok' role='status'>Added {added}.</p>}
      <ErrorNote error={add.error} />
    </Card>
  )
}

export function ModelsPanel () {
  const models = useApi<ModelsOverview>('/api/plexus/models', 5000)
  const remove = useAction(async (name: string) => await api<{ removed: string }>(`/api/plexus/models/${encodeURIComponent(name)}`, { method: 'DELETE' }))
  const installed = models.data?.installed ?? []
  const network = models.data?.network ?? []

  return (
    <Panel title='Models' actions={<button type='button' onClick={models.reload}>Refresh</button>}>
      <ErrorNote error={models.error} />
      <ErrorNote error={remove.error} />
      <Loading loading={models.data == null && models.loading}>
        <h3>Installed on this node</h3>
        {installed.length === 0
          ? <Empty>No models installed. Add a file or pull one below.</Empty>
          : <Table
              caption='Installed models, with the metadata of their GGUF headers'
              rows={installed}
              rowKey={m => m.name}
              columns={[
                { label: 'Name', value: m => <><strong>{m.name}</strong>{m.default && <span class='badge'>default</span>}</> },
                { label: 'Architecture', value: m => m.metadata.architecture },
                { label: 'Parameters', value: m => count(m.metadata.parameters), numeric: true },
                { label: 'Context', value: m => fmt(m.metadata.contextLength), numeric: true },
                { label: 'Quantisation', value: m => m.metadata.quantization },
                { label: 'Size', value: m => bytes(m.sizeBytes), numeric: true },
                { label: 'sha256', value: m => <Short value={m.sha256} /> },
                { label: 'State', value: m => stateOf(m) },
                {
                  label: 'Actions',
                  value: m => (
                    <button type='button' aria-label={`Remove ${m.name}`} disabled={remove.running} onClick={() => { void remove.run(m.name).then(r => { if (r != null) models.reload() }) }}>Remove</button>
                  )
                }
              ]}
            />}
        <h3>On the network</h3>
        {models.data != null && !models.data.networkEnabled
          ? <Empty>The peer-to-peer network is off on this node.</Empty>
          : network.length === 0
            ? <Empty>No peer advertises a model yet.</Empty>
            : <Table
                caption="Models that peers advertise (from their signed adverts)"
                rows={network}
                rowKey={m => `${m.name}/${m.sha256}`}
                columns={[
                  { label: 'Name', value: m => <strong>{m.name}</strong> },
                  { label: 'Parameters', value: m => count(m.parameters), numeric: true },
                  { label: 'Context', value: m => fmt(m.contextLength), numeric: true },
                  { label: 'Quantisation', value: m => m.quantization ?? '–' },
                  { label: 'sha256', value: m => <Short value={m.sha256} /> },
                  { label: 'Peers', value: m => m.peers.map(p => <div key={p.peerId}><Short value={p.peerId} />{p.tokensPerSecond != null && <span class='muted'> {fmt(p.tokensPerSecond, 2)} tok/s</span>}{!p.accepts && <span class='muted'> (not serving)</span>}</div>) },
                  { label: 'Here', value: m => m.installed ? 'installed' : '–' }
                ]}
              />}
      </Loading>
      <div class='grid two'>
        <AddForm onDone={models.reload} />
        <PullForm onDone={models.reload} />
      </div>
    </Panel>
  )
}

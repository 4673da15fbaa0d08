import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, streamEvents } from '../lib/api.js'
import { useApi } from '../lib/hooks.js'
import { Card, Empty, ErrorNote, Panel, Short } from '../lib/ui.js'
import type { ModelList, RouteInfo } from '../lib/types.js'

type Privacy = 'default' | 'private' | 'community' | 'cloud'

interface Turn {
  role: 'user' | 'assistant'
  content: string
  /** Assistant turns: the model asked for, where it ran, and how it ended. */
  model?: string
  route?: RouteInfo
  state?: 'streaming' | 'done' | 'stopped' | 'failed'
  error?: Error
}

/** A chunk of `/v1/chat/completions` with `stream: true` (only what the panel reads). */
interface Chunk {
  choices?: Array<{ delta?: { content?: string }, finish_reason?: string | null }>
  plexus?: { route: RouteInfo }
  error?: { message: string, code?: string }
}

const PRIVACY_HELP: Record<Privacy, string> = {
  default: "the node's configured default",
  private: 'only this node',
  community: 'this node, else a peer',
  cloud: 'this node, a peer, or the cloud upstream'
}

/** Where a generation ran, in words. */
function RouteNote (props: { route: RouteInfo | undefined }) {
  const r = props.route
  if (r == null) return null
  if (r.kind === 'local') return <span class='route'>ran on this node</span>
  if (r.kind === 'cloud') return <span class='route'>ran at the cloud upstream</span>
  const last = r.peers[r.peers.length - 1]
  return (
    <span class='route'>
      ran on peer {last != null ? <Short value={last} /> : '?'}
      {r.peers.length > 1 && <> (after {r.peers.length - 1} failed attempt{r.peers.length > 2 ? 's' : ''})</>}
    </span>
  )
}

export function ChatPanel () {
  // Refreshed now and then: models peers start or stop offering appear without a reload.
  const models = useApi<ModelList>('/v1/models', 15_000)
  const [model, setModel] = useState('')
  const [privacy, setPrivacy] = useState<Privacy>('default')
  const [maxTokens, setMaxTokens] = useState(128)
  const [input, setInput] = useState('')
  const [turns, setTurns] = useState<Turn[]>([])
  const [running, setRunning] = useState(false)
  const controller = useRef<AbortController | null>(null)
  const log = useRef<HTMLOListElement>(null)

  useEffect(() => {
    const first = models.data?.data[0]?.id
    if (model === '' && first != null) setModel(first)
  }, [models.data])
  useEffect(() => () => controller.current?.abort(), [])
  useEffect(() => { log.current?.lastElementChild?.scrollIntoView?.({ block: 'nearest' }) }, [turns])

  const updateLast = (f: (t: Turn) => Turn): void => setTurns(ts => [...ts.slice(0, -1), f(ts[ts.length - 1] as Turn)])

  const send = async (e: Event): Promise<void> => {
    e.preventDefault()
    const text = input.trim()
    if (text === '' || running || model === '') return
    const history = [...turns.filter(t => t.state !== 'failed' && t.content !== ''), { role: 'user' as const, content: text }]
    setTurns(ts => [...ts, { role: 'user', content: text }, { role: 'assistant', content: '', model, state: 'streaming' }])
    setInput('')
    setRunning(true)
    const c = new AbortController()
    controller.current = c
    try {
      await streamEvents('/v1/chat/completions', data => {
        const chunk = data as Chunk
        if (chunk.error != null) throw new ApiError(200, chunk.error.code ?? 'stream_error', chunk.error.message)
        const delta = chunk.choices?.[0]?.delta?.content ?? ''
        const route = chunk.plexus?.route
        if (delta !== '' || route != null) updateLast(t => ({ ...t, content: t.content + delta, route: route ?? t.route }))
      }, {
        body: {
          model,
          messages: history.map(t => ({ role: t.role, content: t.content })),
          max_tokens: maxTokens,
          stream: true,
          ...(privacy !== 'default' ? { plexus: { privacy } } : {})
        },
        signal: c.signal
      })
      updateLast(t => ({ ...t, state: 'done' }))
    } catch (err) {
      if (c.signal.aborted) updateLast(t => ({ ...t, state: 'stopped' }))
      else updateLast(t => ({ ...t, state: 'failed', error: err instanceof Error ? err : new Error(String(err)) }))
    } finally {
      controller.current = null
      setRunning(false)
    }
  }

  const options = models.data?.data ?? []
  return (
    <Panel title='Chat' actions={<button type='button' onClick={() => setTurns([])} disabled={running || turns.length === 0}>Clear history</button>}>
      <ErrorNote error={models.error} />
      <Card>
        <div class='row'>
          <label>Model
            <select value={model} onChange={e => setModel((e.target as HTMLSelectElement).value)} disabled={running}>
              {options.length === 0 && <option value=''>no models</option>}
              {options.map(m => (
                <option key={m.id} value={m.id}>
                  {m.id} — {m.plexus?.location === 'network' ? `on ${m.plexus.peers.length} peer${m.plexus.peers.length === 1 ? '' : 's'}` : (m.plexus?.location ?? 'local')}
                </option>
              ))}
            </select>
          </label>
          <label>Privacy
            <select value={privacy} onChange={e => setPrivacy((e.target as HTMLSelectElement).value as Privacy)} disabled={running}>
              {(Object.keys(PRIVACY_HELP) as Privacy[]).map(p => <option key={p} value={p}>{p === 'default' ? 'node default' : p} ({PRIVACY_HELP[p]})</option>)}
            </select>
          </label>
          <label>Max tokens
            <input type='number' min={1} max={4096} value={maxTokens} onInput={e => setMaxTokens(Math.max(1, Number((e.target as HTMLInputElement).value) || 1))} disabled={running} />
          </label>
        </div>
      </Card>
      {turns.length === 0
        ? <Empty>No messages yet. Ask the model something below.</Empty>
        : (
          <ol class='chat-log' ref={log} aria-label='Messages' aria-live='polite'>
            {turns.map((t, i) => (
              <li key={i} class={`turn ${t.role}`}>
                <div class='who'>{t.role === 'user' ? 'You' : t.model ?? 'model'}</div>
                <div class='text'>{t.content}{t.state === 'streaming' && <span class='cursor' aria-hidden='true'>▍</span>}</div>
                {t.role === 'assistant' && (
                  <div class='meta muted'>
                    <RouteNote route={t.route} />
                    {t.state === 'stopped' && <span> · stopped</span>}
                    {t.state === 'streaming' && <span> · generating…</span>}
                  </div>
                )}
                {t.error != null && <ErrorNote error={t.error} />}
              </li>
            ))}
          </ol>
          )}
      <form class='chat-input' onSubmit={e => { void send(e) }}>
        <label class='grow'>Message
          <textarea
            value={input}
            rows={3}
            onInput={e => setInput((e.target as HTMLTextAreaElement).value)}
            onKeyDown={e => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void send(e) }}
            placeholder='Once upon a time…'
          />
        </label>
        <div class='row'>
          <button type='submit' class='primary' disabled={running || model === '' || input.trim() === ''}>Send</button>
          <button type='button' onClick={() => controller.current?.abort()} disabled={!running}>Stop</button>
          <span class='muted'>Ctrl+Enter sends</span>
        </div>
      </form>
    </Panel>
  )
}

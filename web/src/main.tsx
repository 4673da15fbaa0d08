import { render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { apiKey, onUnauthorized, setApiKey } from './lib/api.js'
import { useApi } from './lib/hooks.js'
import type { NodeStatus } from './lib/types.js'
import { Short } from './lib/ui.js'
import { PANELS } from './panels/index.js'
import './style.css'

function currentRoute (): string {
  const id = location.hash.replace(/^#\/?/, '')
  return PANELS.some(p => p.id === id) ? id : (PANELS[0]?.id ?? '')
}

/** Asks for the node's API key when a request was refused for want of one. */
function KeyDialog (props: { open: boolean, onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null)
  const [value, setValue] = useState('')
  useEffect(() => {
    const d = ref.current
    if (d == null) return
    if (props.open && !d.open) d.showModal()
    if (!props.open && d.open) d.close()
  }, [props.open])
  return (
    <dialog ref={ref} class='key-dialog' aria-labelledby='key-title' onClose={props.onClose}>
      <form method='dialog' onSubmit={() => { setApiKey(value.trim()); setValue(''); props.onClose() }}>
        <h2 id='key-title'>This node needs an API key</h2>
        <p class='muted'>Create one on the node's machine with <code>plexus keys create</code>. It is kept in this browser only.</p>
        <label>API key <input type='password' autocomplete='off' value={value} onInput={e => setValue((e.target as HTMLInputElement).value)} required /></label>
        <div class='row'>
          <button type='submit' class='primary'>Use key</button>
        </div>
      </form>
    </dialog>
  )
}

function App () {
  const [route, setRoute] = useState(currentRoute())
  const [needKey, setNeedKey] = useState(false)
  const status = useApi<NodeStatus>('/api/plexus/status', 10_000)

  useEffect(() => {
    const onHash = (): void => setRoute(currentRoute())
    window.addEventListener('hashchange', onHash)
    return () => window.removeEventListener('hashchange', onHash)
  }, [])
  useEffect(() => onUnauthorized(() => setNeedKey(true)), [])

  const panel = PANELS.find(p => p.id === route)
  const Current = panel?.component
  return (
    <div class='shell'>
      <header class='top'>
        <a class='brand' href='#/'>Plexus</a>
        <span class='node-id'>
          {status.data != null
            ? <>node <Short value={status.data.network?.peerId ?? status.data.nodeId} /> · v{status.data.version}</>
            : status.error != null ? <span class='error'>node unreachable</span> : '…'}
        </span>
        <span class='spacer' />
        {apiKey() != null && <button type='button' class='link' onClick={() => setApiKey(null)}>Forget key</button>}
      </header>
      <nav class='side' aria-label='Panels'>
        <ul>
          {PANELS.map(p => (
            <li key={p.id}><a href={`#/${p.id}`} aria-current={p.id === route ? 'page' : undefined}>{p.title}</a></li>
          ))}
        </ul>
      </nav>
      <main id='main'>{Current != null && <Current key={route} />}</main>
      <KeyDialog open={needKey} onClose={() => setNeedKey(false)} />
    </div>
  )
}

const root = document.getElementById('app')
if (root != null) render(<App />, root)

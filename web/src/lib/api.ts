/**
 * The node's HTTP API as the dashboard uses it: JSON calls, server-sent events read from a fetch
 * body (so the Authorization header goes along, which EventSource cannot do), and the API key the
 * owner typed, kept in this browser's localStorage.
 */

const KEY_STORAGE = 'plexus.apiKey'

/** An error the node answered with: its HTTP status, machine code and one-sentence message. */
export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'ApiError'
  }

  /** True when the node wants an API key (none given, or the one given is wrong). */
  get needsKey (): boolean {
    return this.status === 401
  }
}

type KeyListener = () => void
const keyListeners = new Set<KeyListener>()

export function apiKey (): string | null {
  try { return localStorage.getItem(KEY_STORAGE) } catch { return null }
}

export function setApiKey (key: string | null): void {
  try {
    if (key == null || key === '') localStorage.removeItem(KEY_STORAGE)
    else localStorage.setItem(KEY_STORAGE, key)
  } catch { /* storage disabled: the key lasts until reload */ }
  for (const l of keyListeners) l()
}

/** Called whenever the key changes (panels reload their data). */
export function onKeyChange (listener: KeyListener): () => void {
  keyListeners.add(listener)
  return () => { keyListeners.delete(listener) }
}

const keyNeededListeners = new Set<KeyListener>()
/** Called when a request was refused for want of a valid key (the shell shows the key dialog). */
export function onUnauthorized (listener: KeyListener): () => void {
  keyNeededListeners.add(listener)
  return () => { keyNeededListeners.delete(listener) }
}

function headers (json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' }
  if (json) h['content-type'] = 'application/json'
  const key = apiKey()
  if (key != null) h.authorization = `Bearer ${key}`
  return h
}

async function errorFrom (res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`
  let message = `${res.status} ${res.statusText}`
  try {
    const body = await res.json() as { error?: { message?: string, code?: string } | string }
    if (typeof body.error === 'string') message = body.error
    else if (body.error != null) {
      message = body.error.message ?? message
      code = body.error.code ?? code
    }
  } catch { /* not JSON */ }
  const e = new ApiError(res.status, code, message)
  if (e.needsKey) for (const l of keyNeededListeners) l()
  return e
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE'
  body?: unknown
  signal?: AbortSignal
}

/** Calls the node and returns the parsed JSON answer, or throws ApiError. */
export async function api<T> (path: string, options: RequestOptions = {}): Promise<T> {
  const hasBody = options.body !== undefined
  const isForm = options.body instanceof FormData
  const res = await fetch(path, {
    method: options.method ?? (hasBody ? 'POST' : 'GET'),
    headers: headers(hasBody && !isForm),
    body: hasBody ? (isForm ? options.body as FormData : JSON.stringify(options.body)) : undefined,
    signal: options.signal
  })
  if (!res.ok) throw await errorFrom(res)
  const text = await res.text()
  return (text === '' ? undefined : JSON.parse(text)) as T
}

/**
 * Reads a server-sent event stream (POST with a JSON body, or GET) and calls `onData` with each
 * event's data, parsed as JSON; `data: [DONE]` ends it. Resolves when the stream ends.
 */
export async function streamEvents (path: string, onData: (data: unknown) => void, options: RequestOptions = {}): Promise<void> {
  const hasBody = options.body !== undefined
  const res = await fetch(path, {
    method: options.method ?? (hasBody ? 'POST' : 'GET'),
    headers: { ...headers(hasBody), accept: 'text/event-stream' },
    body: hasBody ? JSON.stringify(options.body) : undefined,
    signal: options.signal
  })
  if (!res.ok) throw await errorFrom(res)
  if (res.body == null) return
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    let end: number
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const data = event.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trimStart()).join('\n')
      if (data === '') continue
      if (data === '[DONE]') return
      onData(JSON.parse(data))
    }
  }
}

/**
 * POSTs a JSON body with XMLHttpRequest, which (unlike fetch) reports upload progress:
 * `onUpload(sent, total)` as the body goes out; resolves with the parsed answer.
 */
export async function postWithProgress<T> (path: string, body: unknown, onUpload: (sent: number, total: number) => void, signal?: AbortSignal): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', path)
    for (const [k, v] of Object.entries(headers(true))) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = e => { if (e.lengthComputable) onUpload(e.loaded, e.total) }
    xhr.onload = () => {
      const res = new Response(xhr.responseText === '' ? null : xhr.responseText, { status: xhr.status, statusText: xhr.statusText, headers: { 'content-type': 'application/json' } })
      if (xhr.status >= 200 && xhr.status < 300) resolve((xhr.responseText === '' ? undefined : JSON.parse(xhr.responseText)) as T)
      else void errorFrom(res).then(reject)
    }
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'The node could not be reached'))
    xhr.onabort = () => reject(new DOMException('Aborted', 'AbortError'))
    signal?.addEventListener('abort', () => xhr.abort(), { once: true })
    xhr.send(JSON.stringify(body))
  })
}

/** A file's bytes as base64 (in slices, so large files do not overflow the call stack). */
export async function fileBase64 (file: Blob): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer())
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

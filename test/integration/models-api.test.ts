import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, tempDir, readSse, FIXTURE_MODEL, FIXTURE_SHA256, type TestNode } from '../helpers/node.js'
import { serveFiles, type FileServer } from '../helpers/file-server.js'

interface Installed { name: string, sha256: string, path: string, sizeBytes: number, owned: boolean, default: boolean, metadata: { architecture: string, parameters: number, contextLength: number | null, quantization: string, chatTemplate: boolean }, loaded: { active: number } | null }
interface Overview { installed: Installed[], network: unknown[], networkEnabled: boolean }
interface ErrorBody { error: { code: string, message: string, param?: string | null } }

// Model management over real HTTP on a real node: add a file, pull from a local HTTP server with
// progress events, refuse bad input and a model in use, remove.
describe('model management API (/api/plexus/models)', () => {
  let t: TestNode
  let files: FileServer
  let scratch: string
  // The fixture with 64 bytes appended: still a valid GGUF header, but other bytes (another sha256).
  const fixture = readFileSync(FIXTURE_MODEL)
  const padded = Buffer.concat([fixture, Buffer.alloc(64)])
  const held = Buffer.concat([fixture, Buffer.alloc(128)])

  before(async () => {
    t = await startTestNode({ inference: { parallel: 1 } })
    files = await serveFiles(
      { '/stories.gguf': fixture, '/padded-stories.gguf': padded, '/held.gguf': held, '/page.gguf': Buffer.from('<!doctype html><p>sign in</p>') },
      { holdAfter: { '/held.gguf': 300_000 } })
    scratch = tempDir('plexus-models-api-')
  })
  after(async () => {
    await files.close()
    await t.close()
  })

  const call = async (method: string, path: string, body?: unknown): Promise<Response> =>
    await fetch(`${t.url}${path}`, { method, headers: body !== undefined ? { 'content-type': 'application/json' } : {}, body: body !== undefined ? JSON.stringify(body) : undefined })
  const list = async (): Promise<Overview> => await (await call('GET', '/api/plexus/models')).json() as Overview
  const errorOf = async (res: Response): Promise<ErrorBody['error']> => ((await res.json()) as ErrorBody).error

  it('lists the installed model with its GGUF metadata', async () => {
    const o = await list()
    assert.equal(o.networkEnabled, true)
    assert.deepEqual(o.network, [])
    assert.equal(o.installed.length, 1)
    const m = o.installed[0]!
    assert.equal(m.name, 'stories260K')
    assert.equal(m.sha256, FIXTURE_SHA256)
    assert.equal(m.sizeBytes, fixture.length)
    assert.equal(m.default, true)
    assert.equal(m.metadata.architecture, 'llama')
    assert.ok(m.metadata.parameters > 200_000 && m.metadata.parameters < 400_000, String(m.metadata.parameters))
    assert.equal(m.metadata.contextLength, 2048)
    assert.ok(m.metadata.quantization.length > 0)
  })

  it('adds a file by path and refuses bad additions with clear codes', async () => {
    const res = await call('POST', '/api/plexus/models', { path: FIXTURE_MODEL, name: 'again' })
    assert.equal(res.status, 201)
    const added = await res.json() as Installed
    assert.equal(added.name, 'again')
    assert.equal(added.sha256, FIXTURE_SHA256)
    assert.equal(added.owned, false)
    assert.equal(added.default, false)
    assert.deepEqual((await list()).installed.map(m => m.name), ['stories260K', 'again'])

    const taken = await call('POST', '/api/plexus/models', { path: FIXTURE_MODEL, name: 'again' })
    assert.equal(taken.status, 409)
    assert.equal((await errorOf(taken)).code, 'PLX_ERR_MODEL_EXISTS')
    const missing = await call('POST', '/api/plexus/models', { path: join(scratch, 'nope.gguf') })
    assert.equal(missing.status, 400)
    assert.equal((await errorOf(missing)).code, 'PLX_ERR_MODEL_INVALID_FILE')
    const text = join(scratch, 'notes.gguf')
    writeFileSync(text, 'not a model')
    const notGguf = await call('POST', '/api/plexus/models', { path: text })
    assert.equal(notGguf.status, 400)
    assert.equal((await errorOf(notGguf)).code, 'PLX_ERR_MODEL_INVALID_FILE')
    const badName = await call('POST', '/api/plexus/models', { path: FIXTURE_MODEL, name: '../etc' })
    assert.equal(badName.status, 400)
    const e = await errorOf(badName)
    assert.equal(e.code, 'invalid_request')
    assert.equal(e.param, 'name')
    const noPath = await call('POST', '/api/plexus/models', { name: 'x' })
    assert.equal(noPath.status, 400)
    assert.equal((await errorOf(noPath)).code, 'invalid_request')
    assert.deepEqual((await list()).installed.map(m => m.name), ['stories260K', 'again'])
  })

  it('pulls a model over HTTP with progress events, then registers it', async () => {
    const res = await call('POST', '/api/plexus/models/pull', { url: `${files.url}/padded-stories.gguf` })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
    const events = await readSse(res)
    assert.equal(events.pop(), '[DONE]')
    const parsed = events.map(e => JSON.parse(e) as { type: string, receivedBytes?: number, totalBytes?: number | null, model?: Installed, alreadyRegistered?: boolean })
    const progress = parsed.filter(e => e.type === 'progress')
    assert.ok(progress.length >= 2, `only ${progress.length} progress events`)
    assert.ok(progress.length <= 102, `${progress.length} progress events for one file`)
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.receivedBytes! >= progress[i - 1]!.receivedBytes!)
    assert.equal(progress.at(-1)?.receivedBytes, padded.length)
    assert.equal(progress.at(-1)?.totalBytes, padded.length)
    const done = parsed.at(-1)!
    assert.equal(done.type, 'done')
    assert.equal(done.alreadyRegistered, false)
    assert.equal(done.model?.name, 'padded-stories')
    assert.equal(done.model?.owned, true)
    assert.equal(done.model?.sizeBytes, padded.length)
    assert.equal(done.model?.metadata.architecture, 'llama')
    assert.ok(existsSync(done.model?.path ?? ''))
    assert.ok((await list()).installed.some(m => m.name === 'padded-stories'))

    // The same bytes again: nothing new is registered.
    const again = await readSse(await call('POST', '/api/plexus/models/pull', { url: `${files.url}/stories.gguf`, sha256: FIXTURE_SHA256.toUpperCase() }))
    const last = JSON.parse(again.at(-2)!) as { type: string, alreadyRegistered: boolean, model: Installed }
    assert.equal(last.type, 'done')
    assert.equal(last.alreadyRegistered, true)
    assert.equal(last.model.name, 'stories260K')
    assert.equal((await list()).installed.length, 3)
  })

  it('reports a wrong sha256 or a non-GGUF download as an error event and keeps nothing', async () => {
    const wrong = 'ab'.repeat(32)
    const res = await call('POST', '/api/plexus/models/pull', { url: `${files.url}/stories.gguf`, sha256: wrong, name: 'wrong' })
    assert.equal(res.status, 200)
    const events = await readSse(res)
    const error = JSON.parse(events.at(-1)!) as ErrorBody
    assert.equal(error.error.code, 'PLX_ERR_PULL_HASH_MISMATCH')
    assert.match(error.error.message, new RegExp(FIXTURE_SHA256))
    const page = await readSse(await call('POST', '/api/plexus/models/pull', { url: `${files.url}/page.gguf` }))
    assert.equal((JSON.parse(page.at(-1)!) as ErrorBody).error.code, 'PLX_ERR_MODEL_INVALID_FILE')
    const gone = await readSse(await call('POST', '/api/plexus/models/pull', { url: `${files.url}/missing.gguf` }))
    assert.equal((JSON.parse(gone.at(-1)!) as ErrorBody).error.code, 'PLX_ERR_PULL_FAILED')
    assert.ok(!(await list()).installed.some(m => m.name === 'wrong'))
    const store = join(t.dataDir, 'models')
    assert.deepEqual(readdirSync(store).filter(f => f.endsWith('.partial') || f.endsWith('.partial.json')), [])
  })

  it('refuses bad pull requests before streaming', async () => {
    for (const [body, param] of [
      [{ url: 'ftp://127.0.0.1/x.gguf' }, 'url'],
      [{ url: `${files.url}/stories.gguf`, sha256: 'abc' }, 'sha256'],
      [{ url: `${files.url}/stories.gguf`, name: 'bad name' }, 'name'],
      [{}, 'url']
    ] as const) {
      const res = await call('POST', '/api/plexus/models/pull', body)
      assert.equal(res.status, 400, JSON.stringify(body))
      const e = await errorOf(res)
      assert.equal(e.code, 'invalid_request')
      assert.equal(e.param, param)
    }
    const taken = await call('POST', '/api/plexus/models/pull', { url: `${files.url}/stories.gguf`, name: 'again' })
    assert.equal(taken.status, 409)
    assert.equal((await errorOf(taken)).code, 'PLX_ERR_MODEL_EXISTS')
    const bad = await fetch(`${t.url}/api/plexus/models/pull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"url":' })
    assert.equal(bad.status, 400)
    assert.equal((await errorOf(bad)).code, 'invalid_json')
  })

  it('reports progress while a download is under way and refuses a second pull of the same URL', async () => {
    const url = `${files.url}/held.gguf`
    const res = await call('POST', '/api/plexus/models/pull', { url, name: 'held' })
    assert.equal(res.status, 200)
    // Read until a progress event arrived: the download is under way, held at 300,000 bytes.
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    const complete = (): string[] => text.split('\n\n').slice(0, -1)
    while (!complete().some(e => e.includes('"type":"progress"'))) {
      const { value, done } = await reader.read()
      assert.equal(done, false, `stream ended early: ${text}`)
      text += value
    }
    const midway = complete().filter(e => e.startsWith('data: ')).map(e => JSON.parse(e.slice(6)) as { type: string, receivedBytes: number, totalBytes: number })
    assert.ok(midway.length > 0)
    assert.ok(midway.every(e => e.type === 'progress' && e.totalBytes === held.length && e.receivedBytes <= 300_000), text)

    const second = await call('POST', '/api/plexus/models/pull', { url })
    assert.equal(second.status, 409)
    assert.equal((await errorOf(second)).code, 'PLX_ERR_PULL_IN_PROGRESS')

    files.release()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      text += value
    }
    assert.match(text, /"type":"done","model":\{"name":"held"/)
    assert.match(text, /data: \[DONE\]\n\n$/)
    const removed = await call('DELETE', '/api/plexus/models/held')
    assert.equal(removed.status, 200)
  })

  it('refuses to remove a model in use (409 PLX_ERR_MODEL_BUSY), then removes it when idle', async () => {
    // One sequence (parallel 1) and several long streamed requests: while any is running or waiting
    // the model is busy. Each request's headers arrive once it is admitted (model loaded, prompt checked).
    const streams = await Promise.all(Array.from({ length: 6 }, async () => await fetch(`${t.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'again', prompt: 'Once upon a time', max_tokens: 400, temperature: 1, stream: true })
    })))
    for (const s of streams) assert.equal(s.status, 200)
    const busy = await call('DELETE', '/api/plexus/models/again')
    assert.equal(busy.status, 409)
    const e = await errorOf(busy)
    assert.equal(e.code, 'PLX_ERR_MODEL_BUSY')
    assert.match(e.message, /again/)
    // Read them to the end (a stream the client aborts holds the node's shutdown for the keep-alive timeout, a separate issue).
    for (const s of streams) assert.match(await s.text(), /data: \[DONE\]/)
    for (let i = 0; i < 200 && t.node.engine.queueStats().active + t.node.engine.queueStats().waiting > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))

    const res = await call('DELETE', '/api/plexus/models/again')
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { removed: 'again', deletedFile: false })
    assert.ok(existsSync(FIXTURE_MODEL), 'a model added in place keeps its file')
    assert.ok(!t.node.engine.loadedModels().some(m => m.name === 'again'))
  })

  it('removes a pulled model with its file, and answers 404 for an unknown one', async () => {
    const pulled = (await list()).installed.find(m => m.name === 'padded-stories')!
    const res = await call('DELETE', '/api/plexus/models/padded-stories')
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { removed: 'padded-stories', deletedFile: true })
    assert.equal(existsSync(pulled.path), false)
    const unknown = await call('DELETE', '/api/plexus/models/padded-stories')
    assert.equal(unknown.status, 404)
    assert.equal((await errorOf(unknown)).code, 'model_not_found')
    assert.deepEqual((await list()).installed.map(m => m.name), ['stories260K'])
  })

  it('documents the routes in the OpenAPI spec', async () => {
    const spec = await (await call('GET', '/openapi.json')).json() as { paths: Record<string, Record<string, unknown>> }
    assert.ok(spec.paths['/api/plexus/models']?.get != null)
    assert.ok(spec.paths['/api/plexus/models']?.post != null)
    assert.ok(spec.paths['/api/plexus/models/pull']?.post != null)
    assert.ok(spec.paths['/api/plexus/models/{name}']?.delete != null)
  })
})

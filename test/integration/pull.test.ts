import { describe, it, before, after, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawn } from 'node:child_process'
import { waitFor } from '../helpers/node.js'
import { pullModel, pullKey, type PullProgress } from '../../src/inference/pull.js'
import { ModelRegistry } from '../../src/inference/registry.js'
import { sha256File } from '../../src/inference/hash.js'

// The compiled test runs from dist/test/integration/, three levels below the repository root.
const FIXTURE_PATH = fileURLToPath(new URL('../../../models/stories260K.gguf', import.meta.url))
const FIXTURE_SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d'
const FIXTURE_BYTES = 1_185_376
const ETAG = '"stories260K-v1"'
const LAST_MODIFIED = 'Sat, 01 Jun 2024 00:00:00 GMT'
const NOT_GGUF = Buffer.from('<!doctype html><title>Sign in to continue</title>\n')

interface SeenRequest { path: string, range: string | null, ifRange: string | null }

/** How the next response for a file misbehaves; each is used once, then cleared. */
const server = {
  ignoreRange: false,
  /** Send this many body bytes, then destroy the socket. */
  cutAfter: null as number | null,
  /** Send this many body bytes, then hold the connection open without sending more. */
  pauseAfter: null as number | null,
  requests: [] as SeenRequest[],
  /** Responses left open by `pauseAfter`, ended by afterEach. */
  held: new Set<ServerResponse>()
}

let fixture: Buffer
let http: Server
let base: string
let dir: string

function sendFile (req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    etag: ETAG,
    'last-modified': LAST_MODIFIED,
    'accept-ranges': server.ignoreRange ? 'none' : 'bytes'
  }
  let status = 200
  let start = 0
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
  const ifRange = req.headers['if-range']
  if (!server.ignoreRange && range != null && (ifRange == null || ifRange === ETAG)) {
    start = Number(range[1])
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end()
      return
    }
    status = 206
    headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`
  }
  const slice = body.subarray(start)
  headers['content-length'] = String(slice.length)
  res.writeHead(status, headers)
  if (server.cutAfter != null) {
    const n = server.cutAfter
    server.cutAfter = null
    res.write(slice.subarray(0, n), () => res.socket?.destroy())
    return
  }
  if (server.pauseAfter != null) {
    const n = server.pauseAfter
    server.pauseAfter = null
    res.write(slice.subarray(0, n))
    server.held.add(res)
    return
  }
  res.end(slice)
}

function handle (req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname
  // No keep-alive, so that no test's request lands on a socket left over from the one before.
  res.setHeader('connection', 'close')
  server.requests.push({ path, range: req.headers.range ?? null, ifRange: (req.headers['if-range'] as string | undefined) ?? null })
  if (path === '/model.gguf') return sendFile(req, res, fixture)
  if (path === '/login.html') return sendFile(req, res, NOT_GGUF)
  if (path === '/tiny.gguf') return sendFile(req, res, Buffer.from('GG'))
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
}

function partialPath (url: string): string {
  return join(dir, `${pullKey(url)}.partial`)
}

async function rejectsWithCode (promise: Promise<unknown>, code: string): Promise<Error> {
  let caught: unknown
  await assert.rejects(promise, (err: unknown) => {
    caught = err
    return true
  })
  assert.equal((caught as { name?: string }).name, 'PlexusError', `expected a PlexusError, got ${String(caught)}`)
  assert.equal((caught as { code?: string }).code, code, (caught as Error).message)
  return caught as Error
}

function assertMonotonic (events: PullProgress[]): void {
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i]!.receivedBytes >= events[i - 1]!.receivedBytes, `progress went backwards at event ${i}`)
  }
}

describe('pullModel over real HTTP', () => {
  before(async () => {
    fixture = readFileSync(FIXTURE_PATH)
    assert.equal(fixture.length, FIXTURE_BYTES)
    http = createServer(handle)
    await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  })

  after(async () => {
    http.closeAllConnections()
    await new Promise<void>(resolve => http.close(() => resolve()))
  })

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'plexus-pull-'))
    server.ignoreRange = false
    server.cutAfter = null
    server.pauseAfter = null
    server.requests = []
  })

  afterEach(() => {
    // Only the responses the pause mode holds open; closing every connection here could kill one
    // the client has just opened for the next test.
    for (const res of server.held) res.destroy()
    server.held.clear()
    rmSync(dir, { recursive: true, force: true })
  })

  it('downloads the whole file, reports progress and names it by its sha256', async () => {
    const events: PullProgress[] = []
    const result = await pullModel(`${base}/model.gguf`, { destDir: dir, sha256: FIXTURE_SHA256, onProgress: p => events.push(p) })

    assert.equal(result.sha256, FIXTURE_SHA256)
    assert.equal(result.bytes, FIXTURE_BYTES)
    assert.equal(result.resumedFrom, 0)
    assert.equal(result.path, join(dir, `${FIXTURE_SHA256}.gguf`))
    assert.equal(await sha256File(result.path), FIXTURE_SHA256)
    assert.deepEqual(readdirSync(dir), [`${FIXTURE_SHA256}.gguf`])
    assert.ok(events.length >= 2)
    assertMonotonic(events)
    assert.equal(events.at(-1)!.receivedBytes, FIXTURE_BYTES)
    assert.ok(events.every(e => e.totalBytes === FIXTURE_BYTES && e.resumedFrom === 0))
    assert.equal(server.requests[0]!.range, null)
  })

  it('keeps the partial file when the connection drops, and resumes it with Range and If-Range', async () => {
    const url = `${base}/model.gguf`
    server.cutAfter = 300_000
    await rejectsWithCode(pullModel(url, { destDir: dir }), 'PLX_ERR_PULL_FAILED')

    const kept = statSync(partialPath(url)).size
    assert.ok(kept > 0 && kept <= 300_000, `partial has ${kept} bytes`)
    assert.ok(existsSync(`${partialPath(url)}.json`))

    const events: PullProgress[] = []
    const result = await pullModel(url, { destDir: dir, sha256: FIXTURE_SHA256, onProgress: p => events.push(p) })

    const resumed = server.requests.at(-1)!
    assert.equal(resumed.range, `bytes=${kept}-`)
    assert.equal(resumed.ifRange, ETAG)
    assert.equal(result.resumedFrom, kept)
    assert.ok(result.resumedFrom > 0)
    assert.equal(result.sha256, FIXTURE_SHA256)
    assert.equal(await sha256File(result.path), FIXTURE_SHA256)
    assert.equal(events[0]!.receivedBytes, kept)
    assertMonotonic(events)
    assert.equal(events.at(-1)!.receivedBytes, FIXTURE_BYTES)
    assert.deepEqual(readdirSync(dir), [`${FIXTURE_SHA256}.gguf`])
  })

  it('restarts from zero when the server ignores Range and answers 200', async () => {
    const url = `${base}/model.gguf`
    server.cutAfter = 200_000
    await rejectsWithCode(pullModel(url, { destDir: dir }), 'PLX_ERR_PULL_FAILED')
    assert.ok(statSync(partialPath(url)).size > 0)

    server.ignoreRange = true
    const events: PullProgress[] = []
    const result = await pullModel(url, { destDir: dir, sha256: FIXTURE_SHA256, onProgress: p => events.push(p) })

    assert.match(server.requests.at(-1)!.range ?? '', /^bytes=\d+-$/)
    assert.equal(result.resumedFrom, 0)
    assert.equal(result.bytes, FIXTURE_BYTES)
    assert.equal(await sha256File(result.path), FIXTURE_SHA256)
    assert.equal(events[0]!.receivedBytes, 0)
    assertMonotonic(events)
    assert.deepEqual(readdirSync(dir), [`${FIXTURE_SHA256}.gguf`])
  })

  it('restarts from zero when the file changed (If-Range does not match)', async () => {
    const url = `${base}/model.gguf`
    writeFileSync(partialPath(url), fixture.subarray(0, 4096))
    writeFileSync(`${partialPath(url)}.json`, JSON.stringify({ url, etag: '"older-version"', lastModified: null, totalBytes: FIXTURE_BYTES }))

    const result = await pullModel(url, { destDir: dir, sha256: FIXTURE_SHA256 })

    assert.equal(server.requests.at(-1)!.ifRange, '"older-version"')
    assert.equal(result.resumedFrom, 0)
    assert.equal(await sha256File(result.path), FIXTURE_SHA256)
  })

  it('finishes a partial file that is already complete when the server answers 416', async () => {
    const url = `${base}/model.gguf`
    copyFileSync(FIXTURE_PATH, partialPath(url))
    writeFileSync(`${partialPath(url)}.json`, JSON.stringify({ url, etag: ETAG, lastModified: LAST_MODIFIED, totalBytes: FIXTURE_BYTES }))

    const result = await pullModel(url, { destDir: dir, sha256: FIXTURE_SHA256 })

    assert.equal(server.requests.length, 1)
    assert.equal(server.requests[0]!.range, `bytes=${FIXTURE_BYTES}-`)
    assert.equal(result.resumedFrom, FIXTURE_BYTES)
    assert.equal(result.sha256, FIXTURE_SHA256)
    assert.deepEqual(readdirSync(dir), [`${FIXTURE_SHA256}.gguf`])
  })

  it('deletes the download when the sha256 does not match', async () => {
    const wrong = 'ab'.repeat(32)
    const err = await rejectsWithCode(pullModel(`${base}/model.gguf`, { destDir: dir, sha256: wrong }), 'PLX_ERR_PULL_HASH_MISMATCH')

    assert.match(err.message, new RegExp(FIXTURE_SHA256))
    assert.match(err.message, new RegExp(wrong))
    assert.deepEqual(readdirSync(dir), [])
  })

  it('rejects a malformed sha256 before downloading', async () => {
    await rejectsWithCode(pullModel(`${base}/model.gguf`, { destDir: dir, sha256: 'not-a-hash' }), 'PLX_ERR_BAD_REQUEST')
    assert.equal(server.requests.length, 0)
  })

  it('fails with PLX_ERR_PULL_FAILED on 404 and leaves nothing behind', async () => {
    const err = await rejectsWithCode(pullModel(`${base}/missing.gguf`, { destDir: dir }), 'PLX_ERR_PULL_FAILED')

    assert.match(err.message, /404/)
    assert.deepEqual(readdirSync(dir), [])
  })

  it('rejects URLs that are not http or https', async () => {
    for (const url of ['ftp://example.org/model.gguf', 'file:///etc/passwd', 'not a url', 'http://user:secret@127.0.0.1/model.gguf']) {
      await rejectsWithCode(pullModel(url, { destDir: dir }), 'PLX_ERR_PULL_FAILED')
    }
    assert.equal(server.requests.length, 0)
  })

  it('fails with PLX_ERR_PULL_FAILED when nothing listens', async () => {
    const closed = createServer()
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>(resolve => closed.close(() => resolve()))

    const err = await rejectsWithCode(pullModel(`http://127.0.0.1:${port}/model.gguf`, { destDir: dir }), 'PLX_ERR_PULL_FAILED')
    assert.match(err.message, /ECONNREFUSED/)
  })

  it('rejects content that is not GGUF and deletes it', async () => {
    await rejectsWithCode(pullModel(`${base}/login.html`, { destDir: dir }), 'PLX_ERR_MODEL_INVALID_FILE')
    assert.deepEqual(readdirSync(dir), [])

    // Shorter than the magic itself: caught by the check on the finished file.
    await rejectsWithCode(pullModel(`${base}/tiny.gguf`, { destDir: dir }), 'PLX_ERR_MODEL_INVALID_FILE')
    assert.deepEqual(readdirSync(dir), [])
  })

  it('refuses a file larger than maxBytes', async () => {
    const err = await rejectsWithCode(pullModel(`${base}/model.gguf`, { destDir: dir, maxBytes: 100_000 }), 'PLX_ERR_PULL_FAILED')
    assert.match(err.message, /100000/)
    assert.deepEqual(readdirSync(dir), [])
  })

  it('keeps the partial file when the signal aborts, and resumes it later', async () => {
    const url = `${base}/model.gguf`
    server.pauseAfter = 150_000
    const controller = new AbortController()
    const pulling = pullModel(url, {
      destDir: dir,
      signal: controller.signal,
      onProgress: p => { if (p.receivedBytes >= 150_000) controller.abort() }
    })
    await rejectsWithCode(pulling, 'PLX_ERR_ABORTED')

    assert.equal(statSync(partialPath(url)).size, 150_000)
    assert.ok(existsSync(`${partialPath(url)}.json`))

    const result = await pullModel(url, { destDir: dir, sha256: FIXTURE_SHA256 })
    assert.equal(result.resumedFrom, 150_000)
    assert.equal(await sha256File(result.path), FIXTURE_SHA256)
  })

  it('one pull of a URL at a time across processes; one whose process died is resumed', async () => {
    // Prepare: another process pulls the model; the server holds its response after 150,000 bytes.
    const url = `${base}/model.gguf`
    server.pauseAfter = 150_000
    const pullModule = new URL('../../src/inference/pull.js', import.meta.url).href
    const child = spawn(process.execPath, ['--input-type=module', '-e',
      `import { pullModel } from ${JSON.stringify(pullModule)}; await pullModel(process.argv[1], { destDir: process.argv[2] })`, url, dir], { stdio: 'ignore' })
    const exited = new Promise(resolve => child.once('exit', resolve))
    await waitFor('the other process to write 150,000 bytes', () => existsSync(partialPath(url)) && statSync(partialPath(url)).size === 150_000)

    // Execute + Assert: a second pull of the same URL into the same folder is refused, the partial file untouched.
    await rejectsWithCode(pullModel(url, { destDir: dir }), 'PLX_ERR_PULL_IN_PROGRESS')
    assert.equal(statSync(partialPath(url)).size, 150_000)

    // Execute: the other process dies mid-download; a pull now resumes what it wrote.
    child.kill('SIGKILL')
    await exited
    const result = await pullModel(url, { destDir: dir, sha256: FIXTURE_SHA256 })

    // Assert
    assert.equal(result.resumedFrom, 150_000)
    assert.equal(await sha256File(result.path), FIXTURE_SHA256)
    assert.deepEqual(readdirSync(dir), [`${FIXTURE_SHA256}.gguf`], 'no partial file or claim left')
  })

  it('rejects at once with an already aborted signal', async () => {
    await rejectsWithCode(pullModel(`${base}/model.gguf`, { destDir: dir, signal: AbortSignal.abort() }), 'PLX_ERR_ABORTED')
    assert.equal(server.requests.length, 0)
  })

  it('gives up on a stalled server and keeps the partial file', async () => {
    const url = `${base}/model.gguf`
    server.pauseAfter = 50_000
    const err = await rejectsWithCode(pullModel(url, { destDir: dir, idleTimeoutMs: 200 }), 'PLX_ERR_PULL_FAILED')

    assert.match(err.message, /no data/)
    assert.equal(statSync(partialPath(url)).size, 50_000)
  })

  it('hands the download to the model registry', async () => {
    const storeDir = join(dir, 'store')
    mkdirSync(storeDir)
    const pulled = await pullModel(`${base}/model.gguf`, { destDir: dir, sha256: FIXTURE_SHA256 })
    const registry = new ModelRegistry({ registryFile: join(dir, 'models.json'), storeDir })

    const record = await registry.add(pulled.path, { name: 'stories260K', store: 'move', sha256: pulled.sha256 })

    assert.equal(record.name, 'stories260K')
    assert.equal(record.sha256, FIXTURE_SHA256)
    assert.equal(record.sizeBytes, FIXTURE_BYTES)
    assert.equal(record.path, join(storeDir, `${FIXTURE_SHA256}.gguf`))
    assert.equal(record.owned, true)
    assert.equal(record.metadata.architecture, 'llama')
    assert.equal(record.metadata.contextLength, 2048)
    assert.equal(existsSync(pulled.path), false)
    assert.equal(registry.get('stories260K').sha256, FIXTURE_SHA256)
  })
})

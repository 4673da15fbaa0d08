import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { serveFiles, type FileServer } from '../helpers/file-server.js'
import { readFileSync, statSync, existsSync, writeFileSync, rmSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { FIXTURE_MODEL, FIXTURE_SHA256, tempDir } from '../helpers/node.js'
import { plexus, plexusAsync, startNodeProcess as startNode } from '../helpers/cli.js'

describe('plexus CLI', () => {
  let dataDir: string
  before(() => { dataDir = tempDir('plexus-cli-') })
  after(() => { rmSync(dataDir, { recursive: true, force: true }) })

  it('prints help and version', () => {
    const help = plexus(['--help'])
    assert.equal(help.code, 0)
    for (const cmd of ['init', 'start', 'models', 'chat', 'status', 'keys']) assert.match(help.stdout, new RegExp(`\\b${cmd}\\b`))
    const version = plexus(['--version'])
    assert.equal(version.code, 0)
    assert.match(version.stdout, /^\d+\.\d+\.\d+/)
  })

  it('init creates the data directory, config and a private identity', () => {
    const r = plexus(['init', '--data-dir', dataDir, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as { nodeId: string, createdIdentity: boolean, identity: string }
    assert.equal(out.createdIdentity, true)
    assert.match(out.nodeId, /^[0-9a-f]{16}$/)
    assert.equal(statSync(out.identity).mode & 0o777, 0o600)
    assert.equal(statSync(dataDir).mode & 0o777, 0o700)
    assert.ok(existsSync(join(dataDir, 'config.json')))
    // Idempotent: a second init keeps the identity.
    const again = JSON.parse(plexus(['init', '--data-dir', dataDir, '--json']).stdout) as { nodeId: string, createdIdentity: boolean }
    assert.equal(again.createdIdentity, false)
    assert.equal(again.nodeId, out.nodeId)
  })

  it('accepts the data directory from PLEXUS_DATA_DIR', () => {
    const other = tempDir('plexus-env-')
    try {
      const r = plexus(['init', '--json'], { PLEXUS_DATA_DIR: other })
      assert.equal(r.code, 0, r.stderr)
      assert.equal((JSON.parse(r.stdout) as { dataDir: string }).dataDir, other)
    } finally {
      rmSync(other, { recursive: true, force: true })
    }
  })

  it('adds, lists, shows and removes models with GGUF metadata', () => {
    const add = plexus(['models', 'add', FIXTURE_MODEL, '--name', 'tiny', '--data-dir', dataDir, '--json'])
    assert.equal(add.code, 0, add.stderr)
    const rec = JSON.parse(add.stdout) as { name: string, sha256: string, metadata: { architecture: string, contextLength: number, quantization: string, parameters: number } }
    assert.equal(rec.name, 'tiny')
    assert.equal(rec.sha256, FIXTURE_SHA256)
    assert.equal(rec.metadata.architecture, 'llama')
    assert.equal(rec.metadata.contextLength, 2048)
    assert.equal(rec.metadata.quantization, 'F32')

    const list = JSON.parse(plexus(['models', 'list', '--data-dir', dataDir, '--json']).stdout) as Array<{ name: string }>
    assert.deepEqual(list.map(m => m.name), ['tiny'])
    const human = plexus(['models', 'list', '--data-dir', dataDir])
    assert.match(human.stdout, /NAME\s+SHA256/)
    assert.match(human.stdout, /tiny\s+270cba1bd510/)

    const dup = plexus(['models', 'add', FIXTURE_MODEL, '--name', 'tiny', '--data-dir', dataDir])
    assert.equal(dup.code, 1)
    assert.match(dup.stderr, /^plexus: .*already registered.*\n$/)

    const rm = plexus(['models', 'rm', 'tiny', '--data-dir', dataDir, '--json'])
    assert.equal(rm.code, 0)
    assert.ok(existsSync(FIXTURE_MODEL), 'a referenced file is never deleted')
    assert.deepEqual(JSON.parse(plexus(['models', 'list', '--data-dir', dataDir, '--json']).stdout), [])
  })

  it('refuses a file that is not GGUF with one sentence and exit code 1', () => {
    const junk = join(dataDir, 'junk.gguf')
    writeFileSync(junk, 'this is not a model')
    const r = plexus(['models', 'add', junk, '--data-dir', dataDir])
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim().split('\n').length, 1)
    assert.match(r.stderr, /^plexus: Not a usable GGUF model file/)
    const json = plexus(['models', 'add', junk, '--data-dir', dataDir, '--json'])
    assert.equal((JSON.parse(json.stderr) as { error: { code: string } }).error.code, 'PLX_ERR_MODEL_INVALID_FILE')
  })

  it('rejects bad flags with exit code 2', () => {
    const r = plexus(['start', '--port', 'eighty', '--data-dir', dataDir])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--port must be an integer/)
    assert.equal(plexus(['frobnicate']).code, 2)
  })

  it('creates, lists and revokes API keys without ever storing the secret', () => {
    const created = plexus(['keys', 'create', 'laptop', '--rate-limit', '100', '--data-dir', dataDir, '--json'])
    assert.equal(created.code, 0, created.stderr)
    const { key, id } = JSON.parse(created.stdout) as { key: string, id: string }
    assert.match(key, /^plx_/)
    const file = readFileSync(join(dataDir, 'api-keys.json'), 'utf8')
    assert.ok(!file.includes(key))
    assert.equal(statSync(join(dataDir, 'api-keys.json')).mode & 0o777, 0o600)
    const list = JSON.parse(plexus(['keys', 'list', '--data-dir', dataDir, '--json']).stdout) as Array<{ id: string, revokedAt: string | null, rateLimitPerMinute: number }>
    assert.equal(list.length, 1)
    assert.equal(list[0]!.rateLimitPerMinute, 100)
    assert.equal(plexus(['keys', 'revoke', id, '--data-dir', dataDir]).code, 0)
    const after = JSON.parse(plexus(['keys', 'list', '--data-dir', dataDir, '--json']).stdout) as Array<{ revokedAt: string | null }>
    assert.ok(after[0]!.revokedAt != null)
    assert.equal(plexus(['keys', 'revoke', 'nobody', '--data-dir', dataDir]).code, 1)
  })

  it('says clearly when no node is running', () => {
    const r = plexus(['status', '--data-dir', dataDir])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^plexus: No running node found/)
  })

  it('runs a node: status, one-shot chat, and a clean shutdown on SIGTERM', async () => {
    const dir = tempDir('plexus-run-')
    const { child, url } = await startNode(dir)
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
      const status = await plexusAsync(['status', '--data-dir', dir, '--json'])
      assert.equal(status.code, 0, status.stderr)
      const s = JSON.parse(status.stdout) as { url: string, defaultModel: string, models: Array<{ name: string }> }
      assert.equal(s.url, url)
      assert.equal(s.defaultModel, 'stories260K', 'the embedded model is registered on first start')

      const chat = await plexusAsync(['chat', '--data-dir', dir, '--prompt', 'Tell me a story', '--max-tokens', '12', '--seed', '1', '--json'])
      assert.equal(chat.code, 0, chat.stderr)
      const c = JSON.parse(chat.stdout) as { content: string, usage: { completion_tokens: number }, model: string }
      assert.equal(c.model, 'stories260K')
      assert.ok(c.content.length > 0)
      assert.ok(c.usage.completion_tokens >= 1 && c.usage.completion_tokens <= 12)

      const streamed = await plexusAsync(['chat', '--data-dir', dir, '--prompt', 'Tell me a story', '--max-tokens', '12', '--seed', '1'])
      assert.equal(streamed.stdout.trim(), c.content.trim(), 'the streamed text is the same answer')

      // A generation in flight when SIGTERM arrives is finished or cancelled; the node exits 0.
      const inflight = fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 300, stream: true }) })
      const res = await inflight
      assert.equal(res.status, 200)
      child.kill('SIGTERM')
      const body = await res.text().catch(() => '')
      assert.ok(body.startsWith('data: '))
      const [code] = await once(child, 'exit') as [number | null]
      assert.equal(code, 0)
      assert.ok(!existsSync(join(dir, 'node.json')), 'the runtime file is removed')
      // Nothing was corrupted: the data directory still loads and lists its model.
      const list = JSON.parse(plexus(['models', 'list', '--data-dir', dir, '--json']).stdout) as Array<{ name: string }>
      assert.deepEqual(list.map(m => m.name), ['stories260K'])
    } finally {
      if (child.exitCode == null) child.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses to start on a non-loopback address without an API key', async () => {
    const dir = tempDir('plexus-bind-')
    try {
      const r = await plexusAsync(['start', '--data-dir', dir, '--host', '0.0.0.0', '--port', '0'])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /Refusing to listen on 0\.0\.0\.0 without an API key/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('plexus models pull', () => {
  let server: FileServer
  let base: string
  let dataDir: string
  const fixture = readFileSync(FIXTURE_MODEL)

  before(async () => {
    dataDir = tempDir('plexus-pull-')
    server = await serveFiles({ '/models/stories260K.gguf': fixture })
    base = server.url
  })
  after(async () => {
    await server.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('downloads, verifies and registers a model', async () => {
    const r = await plexusAsync(['models', 'pull', `${base}/models/stories260K.gguf`, '--sha256', FIXTURE_SHA256, '--data-dir', dataDir, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const rec = JSON.parse(r.stdout) as { name: string, sha256: string, path: string, owned: boolean }
    assert.equal(rec.name, 'stories260K')
    assert.equal(rec.sha256, FIXTURE_SHA256)
    assert.equal(rec.owned, true)
    assert.ok(rec.path.startsWith(join(dataDir, 'models')))
    assert.deepEqual(readFileSync(rec.path), fixture)
  })

  it('rejects a wrong sha256 and leaves no partial file', async () => {
    const wrong = 'f'.repeat(64)
    const r = await plexusAsync(['models', 'pull', `${base}/models/stories260K.gguf`, '--sha256', wrong, '--name', 'other', '--data-dir', dataDir])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^plexus: Downloaded file has sha256 270cba1b/)
    assert.deepEqual(readdirSync(join(dataDir, 'models')).filter(f => f.includes('partial')), [])
  })
})

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync, readFileSync, readdirSync, statSync, rmSync, openSync, writeSync, closeSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { PlexusNode } from '../../src/node/node.js'
import { CabinetService } from '../../src/cabinets/service.js'
import { silentLogger } from '../../src/logger.js'
import { tempDir } from '../helpers/node.js'
import { BIN, plexus, plexusAsync, startNodeProcess, type Run } from '../helpers/cli.js'

const CHEAP_KDF = { N: 1024, r: 8, p: 1 }
const PASS = 'correct horse battery staple'

/** Every byte of every file under `dir`, searched for `needle`. */
function occurrences (dir: string, needle: string): Array<{ file: string, count: number }> {
  const found: Array<{ file: string, count: number }> = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) { walk(p); continue }
      const bytes = readFileSync(p)
      let count = 0
      for (let i = bytes.indexOf(needle); i >= 0; i = bytes.indexOf(needle, i + 1)) count++
      // Also look for the UTF-16 form, in case anything stored text that way.
      const wide = Buffer.from(needle, 'utf16le')
      for (let i = bytes.indexOf(wide); i >= 0; i = bytes.indexOf(wide, i + 1)) count++
      if (count > 0) found.push({ file: p, count })
    }
  }
  walk(dir)
  return found
}

async function startNode (dataDir: string): Promise<{ node: PlexusNode, url: string }> {
  const node = await PlexusNode.create({ dataDir, logger: silentLogger(), writeRuntimeFile: false, cabinetKdf: CHEAP_KDF, config: { api: { port: 0 }, inference: { contextSize: 1024, parallel: 2 } } })
  return { node, url: await node.start() }
}

async function api<T = Record<string, unknown>> (url: string, method: string, path: string, body?: unknown): Promise<{ status: number, body: T }> {
  const r = await fetch(url + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: r.status, body: await r.json() as T }
}

async function ingest (url: string, name: string, paths: string[]): Promise<{ state: string, report: { added: number, updated: number, unchanged: number, removed: number, skipped: Array<{ path: string, reason: string }> } }> {
  let job = (await api<{ id: string, state: string }>(url, 'POST', `/api/plexus/cabinets/${name}/ingest`, { paths })).body
  while (job.state === 'running') {
    await new Promise(resolve => setTimeout(resolve, 50))
    job = (await api<{ id: string, state: string }>(url, 'GET', `/api/plexus/cabinets/${name}/jobs/${job.id}`)).body
  }
  return job as never
}

describe('cabinets on a running node', () => {
  let root: string
  let dataDir: string
  let docs: string
  let node: PlexusNode
  let url: string
  const CANARY = 'CANARY-7f3a9c1e-never-on-disk'

  before(async () => {
    root = tempDir('plexus-cab-')
    dataDir = join(root, 'data')
    docs = join(root, 'docs')
    mkdirSync(join(docs, 'sub'), { recursive: true })
    writeFileSync(join(docs, 'cats.md'), `# Cats\n\nCats purr when they are content and sleep sixteen hours a day.\n\n## Diet\n\nCats are carnivores and eat fish and meat. ${CANARY}\n`)
    writeFileSync(join(docs, 'volcano.txt'), 'A volcano erupts when magma rises through the crust and reaches the surface as lava.')
    writeFileSync(join(docs, 'sub', 'bread.html'), '<html><head><title>Bread</title></head><body><h1>Baking bread</h1><p>Knead the dough, let the yeast rise, then bake the loaf at a high temperature.</p><script>var secret = 1</script></body></html>')
    writeFileSync(join(docs, 'sub', 'broken.pdf'), '%PDF-1.4\nthis is not really a pdf at all\n')
    writeFileSync(join(docs, 'tool.exe'), 'MZ binary')
    ;({ node, url } = await startNode(dataDir))
  })
  after(async () => {
    await node.stop({ graceMs: 0 })
    rmSync(root, { recursive: true, force: true })
  })

  it('creates a cabinet and ingests a folder, reporting what it skipped', async () => {
    const created = await api<{ name: string, locked: boolean }>(url, 'POST', '/api/plexus/cabinets', { name: 'notes', passphrase: PASS })
    assert.equal(created.status, 201)
    assert.equal(created.body.locked, false)
    const job = await ingest(url, 'notes', [docs])
    assert.equal(job.state, 'done')
    assert.equal(job.report.added, 3)
    const skipped = job.report.skipped.map(s => s.path.split('/').pop()).sort()
    assert.deepEqual(skipped, ['broken.pdf', 'tool.exe'])
  })

  it('finds the canary when unlocked, and no file under the data directory holds it', async () => {
    const r = await api<{ hits: Array<{ documentPath: string, snippet: string, chunkId: number, score: number }> }>(url, 'POST', '/api/plexus/cabinets/notes/search', { query: CANARY })
    assert.equal(r.status, 200)
    assert.equal(r.body.hits[0]?.documentPath, join(docs, 'cats.md'))
    assert.ok(r.body.hits[0]!.snippet.includes('CANARY'))
    // While unlocked, with the WAL still holding recent pages.
    assert.deepEqual(occurrences(dataDir, CANARY), [])
    assert.deepEqual(occurrences(dataDir, 'carnivores'), [])
  })

  it('answers with citations that point at the right document, privately', async () => {
    const r = await api<{ mode: string, citations: Array<{ documentPath: string, index: number }>, answer: string, privacy: { level: string } }>(url, 'POST', '/api/plexus/cabinets/notes/ask', { question: 'How does a volcano erupt?' })
    assert.equal(r.status, 200)
    assert.equal(r.body.mode, 'extractive', 'the tiny default model cannot answer, so the passages are quoted')
    assert.equal(r.body.citations[0]?.documentPath, join(docs, 'volcano.txt'))
    assert.equal(r.body.citations[0]?.index, 1)
    assert.match(r.body.answer, /magma/)
    assert.equal(r.body.privacy.level, 'private')

    const wider = await api<{ error: { code: string } }>(url, 'POST', '/api/plexus/cabinets/notes/ask', { question: 'How does a volcano erupt?', privacy: 'community' })
    assert.equal(wider.status, 400)
    assert.equal(wider.body.error.code, 'privacy_violation')
  })

  it('answers chat completions over cabinets with citations', async () => {
    const r = await api<{ choices: Array<{ message: { content: string } }>, citations: Array<{ documentPath: string, cabinet: string }> }>(url, 'POST', '/v1/chat/completions', {
      model: 'stories260K', max_tokens: 8, messages: [{ role: 'user', content: 'How do I bake bread with yeast?' }], plexus: { cabinets: ['notes'], top_k: 3 }
    })
    assert.equal(r.status, 200)
    assert.ok(r.body.citations.length >= 1)
    assert.equal(r.body.citations[0]!.documentPath, join(docs, 'sub', 'bread.html'))
    assert.equal(r.body.citations[0]!.cabinet, 'notes')
    assert.ok(r.body.choices[0]!.message.content.length > 0)

    const refused = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-plexus-privacy': 'cloud' },
      body: JSON.stringify({ model: 'stories260K', max_tokens: 8, messages: [{ role: 'user', content: 'bread' }], plexus: { cabinets: ['notes'] } })
    })
    assert.equal(refused.status, 400)
    assert.equal((await refused.json() as { error: { code: string } }).error.code, 'privacy_violation')
  })

  it('re-ingests only what changed and removes deleted files', async () => {
    writeFileSync(join(docs, 'volcano.txt'), 'A volcano is a vent in the crust; eruptions throw out ash, gas and lava.')
    utimesSync(join(docs, 'volcano.txt'), new Date(), new Date(Date.now() + 5000))
    rmSync(join(docs, 'sub', 'bread.html'))
    const job = await ingest(url, 'notes', [docs])
    assert.equal(job.report.added, 0)
    assert.equal(job.report.updated, 1)
    assert.equal(job.report.unchanged, 1)
    assert.equal(job.report.removed, 1)
    const list = await api<{ documents: Array<{ path: string }> }>(url, 'GET', '/api/plexus/cabinets/notes/documents')
    assert.deepEqual(list.body.documents.map(d => d.path).sort(), [join(docs, 'cats.md'), join(docs, 'volcano.txt')])
    const old = await api<{ hits: unknown[] }>(url, 'POST', '/api/plexus/cabinets/notes/search', { query: 'knead dough yeast' })
    assert.equal(old.body.hits.length, 0)
  })

  it('embeds chunks with the cabinet embedding model and searches hybrid', async () => {
    const set = await api<{ embeddingModel: { name: string, dims: number } }>(url, 'PUT', '/api/plexus/cabinets/notes/embedding-model', { model: 'stories260K' })
    assert.equal(set.status, 200)
    assert.equal(set.body.embeddingModel.dims, 64)
    await node.cabinets.embeddingsIdle('notes')
    const stats = node.cabinets.stats('notes')
    assert.equal(stats.vectors, stats.chunks)
    const r = await api<{ mode: string, hits: Array<{ documentPath: string }> }>(url, 'POST', '/api/plexus/cabinets/notes/search', { query: 'volcano lava', mode: 'hybrid' })
    assert.equal(r.body.mode, 'hybrid')
    assert.equal(r.body.hits[0]?.documentPath, join(docs, 'volcano.txt'))
  })

  it('records ingest, search and ask in the audit log without the query text', async () => {
    const r = await api<{ entries: Array<{ action: string, caller: string, queryHash: string | null, resultCount: number | null }> }>(url, 'GET', '/api/plexus/cabinets/notes/audit')
    const actions = r.body.entries.map(e => e.action)
    for (const a of ['ingest', 'search', 'ask']) assert.ok(actions.includes(a), a)
    const search = r.body.entries.find(e => e.action === 'search')!
    assert.match(search.queryHash ?? '', /^[0-9a-f]{16,}$/)
    assert.ok(search.caller.startsWith('anonymous:'))
    assert.ok(!JSON.stringify(r.body).includes('volcano erupt'))
  })

  it('locks (423 afterwards), refuses a wrong passphrase (403), unlocks, and changes the passphrase', async () => {
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/notes/lock')).status, 200)
    const locked = await api<{ error: { code: string } }>(url, 'POST', '/api/plexus/cabinets/notes/search', { query: 'cats' })
    assert.equal(locked.status, 423)
    assert.equal(locked.body.error.code, 'PLX_ERR_CABINET_LOCKED')
    const wrong = await api<{ error: { code: string } }>(url, 'POST', '/api/plexus/cabinets/notes/unlock', { passphrase: 'not the passphrase' })
    assert.equal(wrong.status, 403)
    assert.equal(wrong.body.error.code, 'PLX_ERR_CABINET_PASSPHRASE')

    const before = readFileSync(join(dataDir, 'cabinets', 'notes.cabinet'))
    const changed = await api(url, 'POST', '/api/plexus/cabinets/notes/passwd', { old_passphrase: PASS, new_passphrase: 'a brand new passphrase' })
    assert.equal(changed.status, 200)
    assert.deepEqual(readFileSync(join(dataDir, 'cabinets', 'notes.cabinet')), before, 'the data is not re-encrypted')
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/notes/unlock', { passphrase: PASS })).status, 403)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/notes/unlock', { passphrase: 'a brand new passphrase' })).status, 200)
    const found = await api<{ hits: unknown[] }>(url, 'POST', '/api/plexus/cabinets/notes/search', { query: 'cats purr' })
    assert.ok(found.body.hits.length >= 1)
    assert.deepEqual(occurrences(dataDir, CANARY), [])
  })

  it('reports a damaged cabinet file as an integrity error and keeps serving', async () => {
    const created = await api(url, 'POST', '/api/plexus/cabinets', { name: 'fragile', passphrase: PASS })
    assert.equal(created.status, 201)
    const other = join(root, 'fragile-docs')
    mkdirSync(other)
    for (let i = 0; i < 30; i++) writeFileSync(join(other, `f${i}.txt`), `Document ${i} about topic ${i}. `.repeat(40))
    assert.equal((await ingest(url, 'fragile', [other])).state, 'done')
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/fragile/lock')).status, 200)
    node.cabinets.stats // the service is still usable for other cabinets
    const file = join(dataDir, 'cabinets', 'fragile.cabinet')
    const size = statSync(file).size
    const fd = openSync(file, 'r+')
    writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, Math.floor(size / 2))
    closeSync(fd)
    const unlock = await api<{ error: { code: string } }>(url, 'POST', '/api/plexus/cabinets/fragile/unlock', { passphrase: PASS })
    let code = unlock.body.error?.code
    if (unlock.status === 200) {
      // The flipped page may only be read by a query: then the query reports it.
      const s = await api<{ error: { code: string } }>(url, 'POST', '/api/plexus/cabinets/fragile/search', { query: 'topic' })
      code = s.body.error.code
      assert.equal(s.status, 500)
    } else {
      assert.equal(unlock.status, 500)
    }
    assert.equal(code, 'PLX_ERR_CABINET_CORRUPT')
    assert.equal((await fetch(`${url}/health`)).status, 200)
    const ok = await api<{ hits: unknown[] }>(url, 'POST', '/api/plexus/cabinets/notes/search', { query: 'cats' })
    assert.equal(ok.status, 200)
  })

  it('ingests an uploaded file in memory, findable, with no clear text on disk', async () => {
    const secret = 'UPLOADED-CANARY-51d2 lighthouse keeper logbook'
    const body = { filename: 'log.md', content_base64: Buffer.from(`# Logbook\n\n${secret}\n`).toString('base64') }
    const r = await api<{ path: string, outcome: string, chunks: number }>(url, 'POST', '/api/plexus/cabinets/notes/documents', body)
    assert.equal(r.status, 201)
    assert.deepEqual([r.body.path, r.body.outcome], ['upload:log.md', 'added'])
    const again = await api<{ outcome: string }>(url, 'POST', '/api/plexus/cabinets/notes/documents', body)
    assert.equal(again.body.outcome, 'unchanged')
    const hits = await api<{ hits: Array<{ documentPath: string }> }>(url, 'POST', '/api/plexus/cabinets/notes/search', { query: 'lighthouse logbook', mode: 'lexical' })
    assert.equal(hits.body.hits[0]?.documentPath, 'upload:log.md')
    assert.deepEqual(occurrences(root, 'UPLOADED-CANARY-51d2'), [])
    const bad = await api<{ error: { code: string } }>(url, 'POST', '/api/plexus/cabinets/notes/documents', { filename: 'x.exe', content_base64: 'TVo=' })
    assert.equal(bad.status, 415)
    assert.equal(bad.body.error.code, 'PLX_ERR_CABINET_FILE_UNSUPPORTED')
    const corrupt = await api<{ error: { code: string } }>(url, 'POST', '/api/plexus/cabinets/notes/documents', { filename: 'x.pdf', content_base64: Buffer.from('%PDF-1.4 nonsense').toString('base64') })
    assert.equal(corrupt.status, 422)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/notes/documents', { filename: '../x.md', content_base64: 'eA==' })).status, 400)
  })

  it('refuses bad input clearly', async () => {
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets', { name: '../escape', passphrase: PASS })).status, 400)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets', { name: 'short', passphrase: 'abc' })).status, 400)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets', { name: 'notes', passphrase: PASS })).status, 409)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/nothing/search', { query: 'x' })).status, 404)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/notes/search', { query: '' })).status, 400)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/notes/ingest', { paths: [join(root, 'missing')] })).status, 400)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/notes/reindex', { stemming: 'yes' })).status, 400)
    assert.equal((await api(url, 'POST', '/api/plexus/cabinets/notes/reindex', { tokenizer: 'icu' })).status, 400)
    const injection = await api<{ hits: unknown[] }>(url, 'POST', '/api/plexus/cabinets/notes/search', { query: '"cats" OR NEAR(fish* AND' })
    assert.equal(injection.status, 200)
  })
})

describe('cabinet auto-lock', () => {
  it('locks an idle cabinet after the configured time', async () => {
    const dir = tempDir('plexus-autolock-')
    const svc = new CabinetService({ engine: null, logger: silentLogger() }, { dir, autoLockMs: 150, kdf: CHEAP_KDF })
    try {
      await svc.create('idle', PASS)
      assert.equal(svc.isUnlocked('idle'), true)
      for (let i = 0; i < 100 && svc.isUnlocked('idle'); i++) await new Promise(resolve => setTimeout(resolve, 20))
      assert.equal(svc.isUnlocked('idle'), false)
      await assert.rejects(svc.search(['idle'], 'x'), { code: 'PLX_ERR_CABINET_LOCKED' })
    } finally {
      await svc.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('cabinets from the CLI without a node', () => {
  let root: string
  before(() => { root = tempDir('plexus-cab-cli-') })
  after(() => { rmSync(root, { recursive: true, force: true }) })

  const cli = (args: string[], env: Record<string, string> = {}): Run => plexus([...args, '--data-dir', join(root, 'data')], { PLEXUS_PASSPHRASE: PASS, ...env })

  it('creates, ingests thousands of documents, survives SIGKILL mid-ingest without duplicates, and searches', async () => {
    const corpus = join(root, 'corpus')
    mkdirSync(corpus)
    const N = 2000
    for (let i = 0; i < N; i++) {
      mkdirSync(join(corpus, `d${i % 20}`), { recursive: true })
      writeFileSync(join(corpus, `d${i % 20}`, `note-${i}.md`), `# Note ${i}\n\nThis note is about item number ${i} and the word token${i}.\n\nIt has a second paragraph mentioning shared words like apple and river.\n`)
    }
    writeFileSync(join(corpus, 'd0', 'corrupt.pdf'), '%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage')
    assert.equal(cli(['cabinet', 'create', 'big']).code, 0)

    // Kill the ingest part-way through.
    const child = spawn(process.execPath, [BIN, 'cabinet', 'ingest', 'big', corpus, '--data-dir', join(root, 'data')], { env: { ...process.env, PLEXUS_PASSPHRASE: PASS }, stdio: 'ignore' })
    const wal = join(root, 'data', 'cabinets', 'big.cabinet-wal')
    for (let i = 0; i < 600; i++) {
      await new Promise(resolve => setTimeout(resolve, 50))
      let size = 0
      try { size = statSync(wal).size } catch {}
      if (size > 200_000 || child.exitCode != null) break
    }
    child.kill('SIGKILL')
    await once(child, 'exit')

    const second = cli(['cabinet', 'ingest', 'big', corpus, '--json'])
    assert.equal(second.code, 0, second.stderr)
    const report = JSON.parse(second.stdout) as { added: number, unchanged: number, skipped: Array<{ path: string }> }
    assert.equal(report.added + report.unchanged, N)
    assert.deepEqual(report.skipped.map(s => s.path.split('/').pop()), ['corrupt.pdf'])

    const docs = JSON.parse(cli(['cabinet', 'documents', 'big', '--json']).stdout) as Array<{ path: string }>
    assert.equal(docs.length, N)
    assert.equal(new Set(docs.map(d => d.path)).size, N, 'no duplicate documents')

    const hits = JSON.parse(cli(['cabinet', 'search', 'big', 'token1234', '--json']).stdout) as { hits: Array<{ documentPath: string }> }
    assert.equal(hits.hits[0]?.documentPath, join(corpus, 'd14', 'note-1234.md'))

    const third = JSON.parse(cli(['cabinet', 'ingest', 'big', corpus, '--json']).stdout) as { added: number, unchanged: number }
    assert.equal(third.added, 0)
    assert.equal(third.unchanged, N)

    // Re-indexed without stemming: every chunk, and exact words still found.
    const reindexed = cli(['cabinet', 'reindex', 'big', '--no-stemming', '--json'])
    assert.equal(reindexed.code, 0, reindexed.stderr)
    const r = JSON.parse(reindexed.stdout) as { chunks: number, tokenizer: { stemming: boolean, cjkBigrams: boolean } }
    assert.ok(r.chunks >= N)
    assert.deepEqual([r.tokenizer.stemming, r.tokenizer.cjkBigrams], [false, true])
    const again = JSON.parse(cli(['cabinet', 'search', 'big', 'token1234', '--json']).stdout) as { hits: Array<{ documentPath: string }> }
    assert.equal(again.hits[0]?.documentPath, join(corpus, 'd14', 'note-1234.md'))
  })

  it('refuses a wrong passphrase with one sentence and exit code 1', () => {
    const r = cli(['cabinet', 'search', 'big', 'apple'], { PLEXUS_PASSPHRASE: 'wrong passphrase!' })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^plexus: Wrong passphrase for cabinet 'big'\n$/)
  })

  it('changes the passphrase, shows the audit log and deletes the cabinet', () => {
    assert.equal(cli(['cabinet', 'passwd', 'big'], { PLEXUS_NEW_PASSPHRASE: 'another long passphrase' }).code, 0)
    assert.equal(cli(['cabinet', 'search', 'big', 'apple']).code, 1)
    const audit = cli(['cabinet', 'audit', 'big', '--json'], { PLEXUS_PASSPHRASE: 'another long passphrase' })
    assert.equal(audit.code, 0, audit.stderr)
    const actions = (JSON.parse(audit.stdout) as Array<{ action: string }>).map(e => e.action)
    assert.ok(actions.includes('ingest') && actions.includes('search'))
    assert.equal(cli(['cabinet', 'rm', 'big'], { PLEXUS_PASSPHRASE: 'another long passphrase' }).code, 0)
    assert.deepEqual(JSON.parse(cli(['cabinet', 'list', '--json']).stdout), [])
  })
})

describe('cabinets from the CLI through a running node', () => {
  it('creates, ingests, searches, and unlocks again on demand after a lock', async () => {
    const root = tempDir('plexus-cab-node-')
    const dataDir = join(root, 'data')
    const docs = join(root, 'docs')
    mkdirSync(docs)
    writeFileSync(join(docs, 'garden.md'), '# Garden\n\nTomatoes need sun and regular watering.\n')
    const { child } = await startNodeProcess(dataDir)
    try {
      const cli = async (args: string[]): Promise<Run> => await plexusAsync([...args, '--data-dir', dataDir], { PLEXUS_PASSPHRASE: PASS })
      assert.equal((await cli(['cabinet', 'create', 'garden'])).code, 0)
      const ing = await cli(['cabinet', 'ingest', 'garden', docs, '--json'])
      assert.equal(ing.code, 0, ing.stderr)
      assert.equal((JSON.parse(ing.stdout) as { added: number }).added, 1)
      const list = JSON.parse((await cli(['cabinet', 'list', '--json'])).stdout) as Array<{ name: string, locked: boolean }>
      assert.deepEqual(list.map(c => [c.name, c.locked]), [['garden', false]], 'unlocked on the node, not just for one command')
      assert.equal((await cli(['cabinet', 'lock', 'garden'])).code, 0)
      const found = await cli(['cabinet', 'search', 'garden', 'tomatoes watering', '--json'])
      assert.equal(found.code, 0, found.stderr)
      assert.equal((JSON.parse(found.stdout) as { hits: Array<{ documentPath: string }> }).hits[0]?.documentPath, join(docs, 'garden.md'))
      const audit = JSON.parse((await cli(['cabinet', 'audit', 'garden', '--json'])).stdout) as Array<{ action: string, caller: string }>
      assert.ok(audit.some(e => e.action === 'search' && e.caller === 'local-cli'))
    } finally {
      child.kill('SIGTERM')
      await once(child, 'exit')
      rmSync(root, { recursive: true, force: true })
    }
  })
})

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { REPO_ROOT, tempDir } from '../helpers/node.js'
import { BIN, TEST_NETWORK_ENV, plexus, plexusAsync, startNodeProcess, type Run, type StartedNode } from '../helpers/cli.js'

const FEATURES = Array.from({ length: 30 }, (_, i) => `f${i}`)
const NETWORK = 'fl-cli-test'

/** The breast cancer rows (569 × 30 features + a 0/1 label), without the file's count header. */
function breastCancer (): string[] {
  return readFileSync(join(REPO_ROOT, 'datasets', 'breast_cancer.csv'), 'utf8').trim().split('\n').slice(1)
}

/** A CSV with a proper header (f0…f29,label) from every `step`-th row starting at `offset`. */
function writeSite (path: string, offset: number, step: number): number {
  const rows = breastCancer().filter((_, i) => i % step === offset)
  writeFileSync(path, [[...FEATURES, 'label'].join(','), ...rows].join('\n') + '\n')
  return rows.length
}

/** The run failed with exit 1 and one sentence on stderr. */
function oneSentence (r: Run, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit ${String(r.code)}: ${r.stdout}${r.stderr}`)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, /^plexus: /)
  assert.match(r.stderr.trimEnd(), pattern)
}

/** The run was refused as a usage error (exit 2). */
function usage (r: Run): void {
  assert.equal(r.code, 2, `exit ${String(r.code)}: ${r.stdout}${r.stderr}`)
  assert.match(r.stderr, /error: /)
}

/** The run succeeded and printed JSON. */
function parsed<T> (r: Run): T {
  assert.equal(r.code, 0, `exit ${String(r.code)}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** `plexus …` whose output is read while it runs: `line` waits for a line matching a pattern. */
function live (args: string[]): { result: Promise<Run>, line: (pattern: RegExp) => Promise<string> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, PLEXUS_LOG_LEVEL: 'silent', ...TEST_NETWORK_ENV } })
  let stdout = ''
  let stderr = ''
  const waiters: Array<() => void> = []
  child.stdout.on('data', d => { stdout += String(d); for (const w of waiters) w() })
  child.stderr.on('data', d => { stderr += String(d) })
  const result = once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }))
  const line = async (pattern: RegExp): Promise<string> => await new Promise((resolve, reject) => {
    const check = (): void => {
      const found = stdout.split('\n').find(l => pattern.test(l))
      if (found != null) resolve(found)
    }
    waiters.push(check)
    check()
    result.then(r => reject(new Error(`exited ${String(r.code)} before printing ${String(pattern)}: ${r.stdout}${r.stderr}`)), reject)
  })
  return { result, line }
}

function errorCode (r: Run): string {
  return (JSON.parse(r.stderr) as { error: { code: string } }).error.code
}

interface Dataset { name: string, rows: number, columns: Array<{ name: string, type: string }>, allowedColumns: string[] }
interface RoundRecord { round: number, selected: string[], contributed: string[], dropped: string[], trainLoss: number | null, evaluation: { accuracy: number } | null }
interface JobDetail { job: { id: string, status: string, reason: string | null, round: number, rounds: number, roster: string[], parameters: number }, history: RoundRecord[] }
interface JobList { jobs: Array<{ id: string, status: string }>, participating: Array<{ jobId: string, status: string, roundsTrained: number, coordinator: string }> }

describe('plexus data and plexus fl: arguments and datasets without a node', () => {
  let dir: string
  let site: string
  let rows: number
  before(() => {
    dir = tempDir('plexus-flcli-')
    site = join(dir, 'site.csv')
    rows = writeSite(site, 0, 2)
  })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('lists the data and fl commands in the help', async () => {
    const [help, data, fl] = await Promise.all([plexusAsync(['--help']), plexusAsync(['data', '--help']), plexusAsync(['fl', '--help'])])
    assert.equal(help.code, 0)
    for (const cmd of ['data', 'fl']) assert.match(help.stdout, new RegExp(`\\n\\s+${cmd}\\b`))
    for (const cmd of ['add', 'ls', 'show', 'rm']) assert.match(data.stdout, new RegExp(`\\n\\s+${cmd}\\b`))
    for (const cmd of ['create', 'status', 'watch', 'join', 'decline', 'stop', 'export', 'template']) assert.match(fl.stdout, new RegExp(`\\n\\s+${cmd}\\b`))
  })

  it('fl template prints the hash governance approves a job template by; a bad spec is one sentence', () => {
    const file = join(dir, 'template.json')
    writeFileSync(file, JSON.stringify({ name: 't', model: { kind: 'logistic' }, dataset: { name: 'patients', features: FEATURES, label: 'label' }, classes: 2, rounds: 1 }))
    const r = plexus(['fl', 'template', file])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/)
    // The participant list is not part of the template.
    const withParticipants = join(dir, 'template2.json')
    writeFileSync(withParticipants, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), participants: ['12D3KooWQFV843TcCndJTaed1DVcdrVTEg48KpMG9SWeWojkpKcG'] }))
    assert.equal(plexus(['fl', 'template', withParticipants]).stdout, r.stdout)
    writeFileSync(file, '{"name": 1}')
    oneSentence(plexus(['fl', 'template', file]), /Invalid federated learning job/)
  })

  it('data add, ls, show and rm work directly on the data directory when no node runs', () => {
    // One process at a time: DuckDB lets one process open the database.
    const dataDir = join(dir, 'direct')
    const record = parsed<Dataset>(plexus(['data', 'add', 'patients', site, '--data-dir', dataDir, '--json']))
    assert.equal(record.rows, rows)
    assert.equal(record.columns.length, 31)
    assert.deepEqual(record.allowedColumns, [...FEATURES, 'label'])
    assert.ok(existsSync(join(dataDir, 'data', 'data.duckdb')))

    const limited = plexus(['data', 'add', 'limited', site, '--columns', 'f0,f1,label', '--data-dir', dataDir])
    assert.equal(limited.code, 0, limited.stderr)
    assert.equal(limited.stdout, `Added dataset 'limited': ${rows} rows, 31 columns (3 of 31 allowed) from site.csv.\n`)

    // A CSV without a usable header: skip it, name the columns.
    const named = parsed<Dataset>(plexus(['data', 'add', 'named', site, '--no-header', '--skip', '1', '--names', [...FEATURES.map(f => `x${f}`), 'y'].join(','), '--data-dir', dataDir, '--json']))
    assert.equal(named.rows, rows)
    assert.equal(named.columns[0]!.name, 'xf0')
    assert.equal(named.columns[30]!.name, 'y')

    const ls = plexus(['data', 'ls', '--data-dir', dataDir])
    assert.equal(ls.code, 0, ls.stderr)
    assert.match(ls.stdout, /^NAME\s+ROWS\s+COLUMNS\s+ALLOWED\s+SOURCE/)
    assert.match(ls.stdout, new RegExp(`\\npatients\\s+${rows}\\s+31\\s+all\\s+site\\.csv`))
    assert.match(ls.stdout, new RegExp(`\\nlimited\\s+${rows}\\s+31\\s+3 of 31\\s+site\\.csv`))

    const show = plexus(['data', 'show', 'limited', '--data-dir', dataDir])
    assert.equal(show.code, 0, show.stderr)
    assert.match(show.stdout, /^name\s+limited$/m)
    assert.match(show.stdout, new RegExp(`^rows\\s+${rows}$`, 'm'))
    assert.match(show.stdout, /^COLUMN\s+TYPE\s+ALLOWED$/m)
    assert.match(show.stdout, /^f0\s+DOUBLE\s+yes$/m)
    assert.match(show.stdout, /^f2\s+DOUBLE\s+no$/m)
    assert.match(show.stdout, /^label\s+BIGINT\s+yes$/m)

    const rm = plexus(['data', 'rm', 'named', '--data-dir', dataDir])
    assert.equal(rm.code, 0, rm.stderr)
    assert.equal(rm.stdout, "Removed dataset 'named'.\n")
    // Refused input: one sentence, and nothing of it stays behind.
    oneSentence(plexus(['data', 'add', 'other', site, '--columns', 'f0,nope,label', '--data-dir', dataDir]), /^plexus: Unusable dataset: unknown column\(s\) nope; the file has f0, f1, /)
    assert.equal(errorCode(plexus(['data', 'show', 'nothing', '--data-dir', dataDir, '--json'])), 'PLX_ERR_DATASET_NOT_FOUND')
    const after = parsed<{ datasets: Dataset[] }>(plexus(['data', 'ls', '--data-dir', dataDir, '--json']))
    assert.deepEqual(after.datasets.map(d => d.name), ['patients', 'limited'])
  })

  it('bad input is one sentence and exit 1; bad flags are usage errors (exit 2)', async () => {
    const dataDir = join(dir, 'bad')
    const notJson = join(dir, 'spec.txt')
    writeFileSync(notJson, '{ name: oops')
    const array = join(dir, 'array.json')
    writeFileSync(array, '[1, 2]')
    const huge = join(dir, 'huge.json')
    writeFileSync(huge, '')
    truncateSync(huge, 64 * 1024 * 1024 + 1)
    // None of these opens the data directory: they all run at once.
    const cases: Array<[string[], (r: Run) => void]> = [
      [['data', 'add', 'other', join(dir, 'missing.csv')], r => oneSentence(r, /^plexus: Unusable dataset: .*missing\.csv does not exist$/)],
      [['data', 'add', 'Bad Name', site], r => oneSentence(r, /^plexus: Invalid dataset name 'Bad Name'/)],
      [['data', 'rm', 'Bad/Name'], r => oneSentence(r, /^plexus: Invalid dataset name 'Bad\/Name'/)],
      [['data', 'add', 'x', site, '--skip', 'abc'], usage],
      [['data', 'add', 'x', site, '--columns', 'a,,b'], usage],
      [['data', 'add', 'x', site, '--names', 'a,a'], usage],
      [['data', 'add', 'x'], usage],
      [['fl', 'status', '--bogus'], usage],
      [['fl', 'export', 'fl-abc'], usage],
      [['fl', 'create', join(dir, 'nospec.json')], r => oneSentence(r, /^plexus: Invalid federated learning job: cannot read .*nospec\.json \(no such file\)$/)],
      [['fl', 'create', notJson], r => oneSentence(r, /^plexus: Invalid federated learning job: .*spec\.txt is not JSON/)],
      [['fl', 'create', notJson, '--json'], r => assert.equal(errorCode(r), 'PLX_ERR_FL_SPEC_INVALID')],
      [['fl', 'create', array], r => oneSentence(r, /array\.json must hold a JSON object/)],
      [['fl', 'create', huge], r => oneSentence(r, /huge\.json is 67108865 bytes; a spec file may hold at most 67108864 \(64 MiB\)$/)],
      [['fl', 'status', 'bad id!'], r => oneSentence(r, /^plexus: Invalid job id 'bad id!'/)],
      [['fl', 'join', '../etc'], r => oneSentence(r, /^plexus: Invalid job id/)],
      [['fl', 'export', 'fl/1', dir], r => oneSentence(r, /^plexus: Invalid job id/)],
      [['fl', 'status'], r => oneSentence(r, /^plexus: No running node found: nothing is running on data directory/)]
    ]
    const runs = await Promise.all(cases.map(async ([args]) => await plexusAsync([...args, '--data-dir', dataDir])))
    cases.forEach(([args, check], i) => {
      try { check(runs[i]!) } catch (err) { throw new Error(`plexus ${args.join(' ')}: ${(err as Error).message}`) }
    })
    assert.equal(existsSync(join(dataDir, 'data')), false, 'refused commands create no registry')
  })
})

describe('plexus data and plexus fl on two real nodes', { timeout: 300_000 }, () => {
  const root = tempDir('plexus-flcli-nodes-')
  const dirA = join(root, 'a')
  const dirB = join(root, 'b')
  const nodes: ChildProcess[] = []
  let a: StartedNode
  let b: StartedNode
  const run = async (dataDir: string, ...args: string[]): Promise<Run> => await plexusAsync([...args, '--data-dir', dataDir])
  const specFile = (name: string, over: Record<string, unknown> = {}): string => {
    const file = join(root, `${name}.json`)
    writeFileSync(file, JSON.stringify({
      name,
      model: { kind: 'logistic' },
      dataset: { name: 'patients', features: FEATURES, label: 'label' },
      classes: 2,
      rounds: 3,
      clients: { fraction: 1, min: 2 },
      local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
      seed: 11,
      ...over
    }))
    return file
  }
  const peersOf = async (url: string): Promise<string[]> => {
    const r = await fetch(`${url}/api/plexus/peers`)
    return r.ok ? ((await r.json()) as { peers: Array<{ peerId: string }> }).peers.map(p => p.peerId) : []
  }
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    while (!await check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }
  const offerAt = async (url: string, id: string): Promise<string | null> => {
    const list = await (await fetch(`${url}/api/plexus/fl/jobs`)).json() as JobList
    return list.participating.find(p => p.jobId === id)?.status ?? null
  }

  before(async () => {
    // Clinic A: its dataset is added directly (no node yet), then it starts and coordinates.
    const siteA = join(root, 'site-a.csv')
    writeSite(siteA, 0, 2)
    const direct = plexus(['data', 'add', 'patients', siteA, '--data-dir', dirA])
    assert.equal(direct.code, 0, direct.stderr)
    const startedA = await startNodeProcess(dirA, ['--network', NETWORK, '--no-embedded-model'])
    nodes.push(startedA.child)
    a = startedA.info
    assert.ok(a.peerId != null && a.multiaddrs.length > 0)
    // Clinic B joins A's jobs without review.
    process.env.PLEXUS_FL_AUTO_ACCEPT = a.peerId
    try {
      const startedB = await startNodeProcess(dirB, ['--network', NETWORK, '--no-embedded-model', '--bootstrap', a.multiaddrs[0]!])
      nodes.push(startedB.child)
      b = startedB.info
    } finally {
      delete process.env.PLEXUS_FL_AUTO_ACCEPT
    }
    await until('the nodes to see each other', async () => (await peersOf(a.url)).includes(b.peerId!) && (await peersOf(b.url)).includes(a.peerId!))
  })

  after(async () => {
    for (const child of nodes) {
      if (child.exitCode != null) continue
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      // A coordinator that was stopped while inviting may sleep until its deadline: don't wait for it.
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(root, { recursive: true, force: true })
  })

  it('data commands go through the running node (DuckDB allows one process)', async () => {
    const siteB = join(root, 'site-b.csv')
    const rows = writeSite(siteB, 1, 2)
    assert.equal(parsed<Dataset>(await run(dirB, 'data', 'add', 'patients', siteB, '--json')).rows, rows)
    const extra = await run(dirB, 'data', 'add', 'extra', siteB, '--columns', 'f0,label')
    assert.equal(extra.code, 0, extra.stderr)
    // The node has both: its own API lists them.
    const listed = await (await fetch(`${b.url}/api/plexus/data`)).json() as { datasets: Dataset[] }
    assert.deepEqual(listed.datasets.map(d => d.name), ['patients', 'extra'])

    // Through the node, commands may run side by side.
    const [ls, show, unknown, dup, missing, showA] = await Promise.all([
      run(dirB, 'data', 'ls'),
      run(dirB, 'data', 'show', 'extra'),
      run(dirB, 'data', 'add', 'other', siteB, '--columns', 'f0,nope', '--json'),
      run(dirB, 'data', 'add', 'patients', siteB),
      run(dirB, 'data', 'show', 'nothing'),
      // A's dataset, added before its node started, is served by the node now.
      run(dirA, 'data', 'show', 'patients', '--json')
    ])
    assert.match(ls.stdout, new RegExp(`\\nextra\\s+${rows}\\s+31\\s+2 of 31\\s+site-b\\.csv`))
    assert.match(show.stdout, /^f0\s+DOUBLE\s+yes$/m)
    assert.match(show.stdout, /^f1\s+DOUBLE\s+no$/m)
    // The node's refusals come back as one sentence, with their own codes.
    assert.equal(unknown.code, 1)
    assert.equal(errorCode(unknown), 'PLX_ERR_DATASET_INVALID')
    assert.match((JSON.parse(unknown.stderr) as { error: { message: string } }).error.message, /^Unusable dataset: unknown column\(s\) nope; the file has f0, /)
    oneSentence(dup, /^plexus: A dataset named 'patients' already exists$/)
    oneSentence(missing, /^plexus: No dataset 'nothing' on this node$/)
    assert.equal(parsed<Dataset>(showA).columns.length, 31)

    const rm = await run(dirB, 'data', 'rm', 'extra')
    assert.equal(rm.code, 0, rm.stderr)
    const after = await (await fetch(`${b.url}/api/plexus/data`)).json() as { datasets: Dataset[] }
    assert.deepEqual(after.datasets.map(d => d.name), ['patients'])
  })

  it('fl create --wait runs a job across both nodes; status, watch and export show it', async () => {
    const created = await run(dirA, 'fl', 'create', specFile('clinics'), '--wait')
    assert.equal(created.code, 0, created.stdout + created.stderr)
    const lines = created.stdout.trim().split('\n')
    const id = lines[0]!
    assert.match(id, /^fl-[A-Za-z0-9_-]+$/)
    const rounds = lines.filter(l => l.startsWith('round '))
    assert.equal(rounds.length, 3, created.stdout)
    rounds.forEach((l, i) => assert.match(l, new RegExp(`^round ${i + 1}/3  clients 2/2  dropped 0  loss \\d+\\.\\d{4}  accuracy 0\\.\\d{4}  ε -$`)))
    assert.match(lines.at(-1)!, new RegExp(`^${id} completed after 3 rounds: accuracy 0\\.\\d{4}$`))

    const dir = join(root, 'model')
    const [status, human, listA, listB, tableB, watch, watchJson, exported, unknown, stopDone, bad, bad2] = await Promise.all([
      run(dirA, 'fl', 'status', id, '--json'),
      run(dirA, 'fl', 'status', id),
      run(dirA, 'fl', 'status', '--json'),
      run(dirB, 'fl', 'status', '--json'),
      run(dirB, 'fl', 'status'),
      run(dirA, 'fl', 'watch', id),
      run(dirA, 'fl', 'watch', id, '--json'),
      run(dirA, 'fl', 'export', id, dir),
      run(dirA, 'fl', 'watch', 'fl-nothing'),
      run(dirA, 'fl', 'stop', id),
      run(dirA, 'fl', 'create', specFile('bad', { rounds: 0 }), '--json'),
      run(dirA, 'fl', 'create', specFile('bad2', { secureAggregation: { enabled: true }, robust: { rule: 'median' } }))
    ])

    const detail = parsed<JobDetail>(status)
    assert.equal(detail.job.status, 'completed')
    assert.deepEqual(detail.history.map(r => r.round), [1, 2, 3])
    for (const r of detail.history) {
      assert.deepEqual([...r.contributed].sort(), [a.peerId!, b.peerId!].sort())
      assert.ok(r.evaluation!.accuracy > 0.8, `accuracy ${r.evaluation!.accuracy}`)
    }
    assert.match(human.stdout, new RegExp(`^job\\s+${id} \\(clinics\\)$`, 'm'))
    assert.match(human.stdout, /^status\s+completed/m)
    assert.match(human.stdout, /^round\s+3 of 3$/m)
    assert.match(human.stdout, /^ROUND\s+CLIENTS\s+DROPPED\s+TRAIN LOSS\s+ACCURACY\s+EVAL LOSS\s+ε$/m)
    assert.match(human.stdout, /^3\s+2\/2\s+0\s+\d+\.\d{4}\s+0\.\d{4}/m)

    // The list on both sides: A coordinated it, B took part.
    assert.equal(parsed<JobList>(listA).jobs.find(j => j.id === id)?.status, 'completed')
    const part = parsed<JobList>(listB).participating.find(p => p.jobId === id)
    assert.ok(part != null)
    assert.equal(part.coordinator, a.peerId)
    assert.equal(part.roundsTrained, 3)
    assert.match(tableB.stdout, /^Taking part:$/m)
    assert.match(tableB.stdout, new RegExp(`^${id}\\s+clinics\\s+\\S+\\s+(accepted|finished)\\s+patients\\s+3 rounds`, 'm'))

    // watch on a finished job: its rounds and how it ended, exit 0.
    assert.equal(watch.code, 0, watch.stderr)
    assert.deepEqual(watch.stdout.trim().split('\n'), [...rounds, lines.at(-1)])
    assert.equal(watchJson.code, 0, watchJson.stderr)
    const events = watchJson.stdout.trim().split('\n').map(l => JSON.parse(l) as { type: string, record?: RoundRecord })
    assert.deepEqual(events.filter(e => e.type === 'round').map(e => e.record!.round), [1, 2, 3])
    assert.deepEqual(events.at(-1), { type: 'status', jobId: id, status: 'completed', reason: null })

    // export: the tfjs files, written by the node.
    assert.equal(exported.code, 0, exported.stderr)
    assert.match(exported.stdout, /model\.json/)
    const model = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { format: string, weightsManifest: Array<{ paths: string[] }> }
    assert.equal(model.format, 'layers-model')
    assert.deepEqual(model.weightsManifest[0]!.paths, ['weights.bin'])
    assert.equal(readFileSync(join(dir, 'weights.bin')).byteLength, detail.job.parameters * 4, 'every parameter, float32')

    // Unknown jobs and bad specs: one sentence from the node.
    oneSentence(unknown, /^plexus: No federated learning job 'fl-nothing'$/)
    oneSentence(stopDone, new RegExp(`^plexus: No federated learning job '${id}'$`))
    assert.equal(bad.code, 1)
    assert.equal(errorCode(bad), 'PLX_ERR_FL_SPEC_INVALID')
    oneSentence(bad2, /^plexus: Invalid federated learning job: robust rule 'median' needs each client's update/)
  })

  it('an offer from a coordinator that is not allow-listed waits for fl join; watch follows it live', async () => {
    // B coordinates; A reviews offers by hand.
    const created = await run(dirB, 'fl', 'create', specFile('review', { rounds: 2, roundDeadlineSeconds: 120 }))
    assert.equal(created.code, 0, created.stderr)
    const id = created.stdout.trim()
    assert.match(id, /^fl-[A-Za-z0-9_-]+$/)
    await until('the offer at A', async () => await offerAt(a.url, id) === 'pending')

    const watching = live(['fl', 'watch', id, '--data-dir', dirB])
    const [list, one, oneHuman, atB] = await Promise.all([
      run(dirA, 'fl', 'status'),
      run(dirA, 'fl', 'status', id, '--json'),
      run(dirA, 'fl', 'status', id),
      run(dirB, 'fl', 'status', id, '--json'),
      watching.line(new RegExp(`^${id} inviting: waiting for participants$`))
    ])
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(`^${id}\\s+review\\s+\\S+\\s+pending\\s+patients`, 'm'))
    assert.match(list.stdout, /^1 offer pending: approve with `plexus fl join JOB`, or `plexus fl decline JOB`\.$/m)
    const participation = parsed<{ participation: { status: string, coordinator: string } }>(one).participation
    assert.equal(participation.status, 'pending')
    assert.equal(participation.coordinator, b.peerId)
    assert.match(oneHuman.stdout, /^status\s+pending$/m)
    assert.match(oneHuman.stdout, new RegExp(`Approve with \`plexus fl join ${id}\``))
    assert.equal(parsed<JobDetail>(atB).job.status, 'inviting')

    const joined = await run(dirA, 'fl', 'join', id)
    assert.equal(joined.code, 0, joined.stderr)
    assert.match(joined.stdout, new RegExp(`^Joined job ${id} of coordinator `))
    const watch = await watching.result
    assert.equal(watch.code, 0, watch.stdout + watch.stderr)
    const wl = watch.stdout.trim().split('\n')
    assert.equal(wl.filter(l => /^round \d\/2  clients 2\/2/.test(l)).length, 2, watch.stdout)
    assert.match(wl.at(-1)!, new RegExp(`^${id} completed after 2 rounds`))
    oneSentence(await run(dirA, 'fl', 'join', id), /is (accepted|finished), not pending/)
  })

  it('fl decline refuses an offer; fl stop ends a job and a live watch exits 1', async () => {
    const created = parsed<{ id: string, status: string }>(await run(dirB, 'fl', 'create', specFile('declined', { roundDeadlineSeconds: 60 }), '--json'))
    const id = created.id
    await until('the offer at A', async () => await offerAt(a.url, id) === 'pending')
    const declined = await run(dirA, 'fl', 'decline', id)
    assert.equal(declined.code, 0, declined.stderr)
    assert.match(declined.stdout, new RegExp(`^Declined job ${id}`))

    const watching = live(['fl', 'watch', id, '--data-dir', dirB])
    const [status] = await Promise.all([run(dirA, 'fl', 'status', id, '--json'), watching.line(/inviting/)])
    assert.equal(parsed<{ participation: { status: string } }>(status).participation.status, 'declined')
    const stopped = await run(dirB, 'fl', 'stop', id)
    assert.equal(stopped.code, 0, stopped.stderr)
    assert.equal(stopped.stdout, `Stopped job ${id} after 0 of 3 rounds.\n`)
    const watch = await watching.result
    assert.equal(watch.code, 1, watch.stdout + watch.stderr)
    assert.equal(watch.stdout.trim().split('\n').at(-1), `${id} stopped: stopped by the owner`)
    const again = await run(dirB, 'fl', 'watch', id, '--json')
    assert.equal(again.code, 1)
    assert.deepEqual(JSON.parse(again.stdout.trim().split('\n').at(-1)!), { type: 'status', jobId: id, status: 'stopped', reason: 'stopped by the owner' })
  })
})

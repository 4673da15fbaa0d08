import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { tempDir } from '../helpers/node.js'
import { plexus, plexusAsync, startNodeProcess, type Run } from '../helpers/cli.js'
import { loadDiabetes, DIABETES_COLUMNS } from '../../src/analytics/diabetes.js'

const NETWORK = 'stats-cli-test'
const HEADER = [...DIABETES_COLUMNS, 'progression']

function parsed<T> (r: Run): T {
  assert.equal(r.code, 0, `exit ${String(r.code)}: ${r.stdout}${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

function oneSentence (r: Run, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit ${String(r.code)}: ${r.stdout}${r.stderr}`)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr.trimEnd(), pattern)
}

interface Answer { complete: boolean, secure: boolean, pooled: any, sites: Array<{ peer: string, status: string, approval?: string }> }

describe('plexus stats query and plexus data approvals|audit against three node processes', { timeout: 300_000 }, () => {
  const root = tempDir('plexus-stats-cli-')
  const dirs = ['a', 'b', 'c'].map(n => join(root, n))
  const children: ChildProcess[] = []
  const rows = loadDiabetes().rows
  const q = async (args: string[]): Promise<Run> => await plexusAsync(['stats', 'query', '--dataset', 'diabetes', ...args, '--data-dir', dirs[0]!])

  before(async () => {
    for (const [i, dir] of dirs.entries()) {
      assert.equal(plexus(['init', '--data-dir', dir]).code, 0)
      const file = join(root, `site-${i}.csv`)
      writeFileSync(file, [HEADER.join(','), ...rows.filter((_r, k) => k % 3 === i).map(r => HEADER.map(h => r[h as keyof typeof r]).join(','))].join('\n') + '\n')
      // No node runs yet: the dataset goes straight into the data directory.
      assert.equal(plexus(['data', 'add', 'diabetes', file, '--data-dir', dir]).code, 0)
    }
    // Site b's owner reviews regressions before they run.
    const configFile = join(dirs[1]!, 'config.json')
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>
    writeFileSync(configFile, JSON.stringify({ ...config, stats: { autoApprove: ['count', 'mean', 'var', 'sd', 'sum'] } }))
    const a = await startNodeProcess(dirs[0]!, ['--network', NETWORK, '--no-embedded-model'])
    children.push(a.child)
    for (const dir of dirs.slice(1)) children.push((await startNodeProcess(dir, ['--network', NETWORK, '--no-embedded-model', '--bootstrap', a.info.multiaddrs[0]!])).child)
    const deadline = Date.now() + 30_000
    while (true) {
      const peers = parsed<unknown[]>(await plexusAsync(['peers', '--json', '--data-dir', dirs[0]!]))
      if (peers.length === 2) break
      assert.ok(Date.now() < deadline, 'the peers advertised')
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  })

  after(() => {
    for (const c of children) c.kill('SIGTERM')
    rmSync(root, { recursive: true, force: true })
  })

  it('pools a statistic over the three sites, as text and as JSON', async () => {
    const text = await q(['--fn', 'count'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /count on 'diabetes' at 3 site\(s\):/)
    assert.match(text.stdout, /Pooled:\nn = 442\n/)
    const mean = parsed<Answer>(await q(['--fn', 'mean', '--col', 'bmi', '--col', 'bp', '--by', 'sex', '--secure', '--json']))
    assert.equal(mean.complete, true)
    assert.equal(mean.secure, true)
    assert.equal(mean.pooled.groups.reduce((n: number, g: any) => n + g.n, 0), 442)
    const exact = rows.filter(r => r.sex === 1).reduce((s, r) => s + r.bmi, 0) / rows.filter(r => r.sex === 1).length
    assert.ok(Math.abs(mean.pooled.groups[0].values[0].value - exact) < 1e-9)
  })

  it('a function the site owner reviews waits in the queue until approved there', async () => {
    const first = await q(['--fn', 'glm', '--col', 'progression,bmi,bp', '--json'])
    assert.equal(first.code, 1, 'no pooled result: exit 1')
    const answer = JSON.parse(first.stdout) as Answer
    const queued = answer.sites.find(s => s.status === 'queued')
    assert.ok(queued?.approval != null, first.stdout)
    const list = await plexusAsync(['data', 'approvals', '--data-dir', dirs[1]!])
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(`${queued.approval}\\s+pending\\s+\\S+\\s+glm\\(progression, bmi, bp\\) on diabetes`))
    const approve = await plexusAsync(['data', 'approvals', 'approve', queued.approval, '--data-dir', dirs[1]!])
    assert.equal(approve.code, 0, approve.stderr)
    assert.match(approve.stdout, /^Approved apr-/)
    const again = await q(['--fn', 'glm', '--col', 'progression,bmi,bp'])
    assert.equal(again.code, 0, again.stderr + again.stdout)
    assert.match(again.stdout, /TERM\s+ESTIMATE\s+STD\. ERROR\s+t\s+p\n\(intercept\)/)
    assert.match(again.stdout, /gaussian GLM on n = 442/)
    const audit = await plexusAsync(['data', 'audit', '--data-dir', dirs[1]!, '--json'])
    const entries = parsed<{ entries: Array<{ verdict: string, query: { fn: string } }> }>(audit).entries
    assert.ok(entries.some(e => e.verdict === 'queued' && e.query.fn === 'glm'))
    assert.ok(entries.some(e => e.verdict === 'released' && e.query.fn === 'glm'))
  })

  it('bad arguments: usage errors or one clear sentence', async () => {
    const missing = await plexusAsync(['stats', 'query', '--fn', 'mean', '--data-dir', dirs[0]!])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /--dataset/)
    const range = await q(['--fn', 'histogram', '--col', 'bmi', '--range', '1', '--bins', '4'])
    assert.equal(range.code, 2)
    assert.match(range.stderr, /--range takes 2 numbers/)
    oneSentence(await q(['--fn', 'median', '--col', 'bmi']), /fn: Invalid option: expected one of "count"/)
    oneSentence(await q(['--fn', 'histogram', '--col', 'bmi']), /needs range/)
    oneSentence(await plexusAsync(['data', 'approvals', 'deny', 'apr-nothing', '--data-dir', dirs[1]!]), /No statistics approval 'apr-nothing'/)
  })
})

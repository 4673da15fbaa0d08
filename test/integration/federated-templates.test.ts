import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, tempDir, waitFor, type TestNode } from '../helpers/node.js'
import { FEATURES, breastCancer, stratified, writeCsv, post } from '../helpers/federated.js'
import { BUILT_IN_TEMPLATES } from '../../src/federated/templates.js'
import { parseJobSpec, templateHash } from '../../src/federated/spec.js'

/** Reads a server-sent event stream to its end; the parsed `data:` of each event. */
async function readEvents (url: string): Promise<Array<{ type: string, status?: string, record?: { round: number, evaluation: { accuracy: number } | null } }>> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream' } })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
  const text = await res.text()
  return text.split('\n\n').filter(e => e.startsWith('data: ')).map(e => JSON.parse(e.slice(6)) as never)
}

// Job templates over real HTTP: the list, a job made from one (its hash matches the spec's template
// hash, and governance approval shows) that two real nodes train while its round events stream,
// and bad input refused with the project's codes.
describe('federated job templates API and round events', { timeout: 300_000 }, () => {
  const root = tempDir('plexus-fl-tpl-')
  let node: TestNode
  let site: TestNode
  const logistic = BUILT_IN_TEMPLATES.find(t => t.id === 'logistic')!
  const expected = templateHash(parseJobSpec({ ...logistic.spec, name: 'from-template', rounds: 3, dataset: { name: 'patients', features: FEATURES, label: 'label' } }))

  before(async () => {
    node = await startTestNode({ network: { networkId: 'fl-tpl-test' }, governance: { flTemplates: [expected] } }, { embeddedModel: false })
    // The second site joins jobs of templates governance approved without its owner.
    site = await startTestNode({ network: { networkId: 'fl-tpl-test', bootstrap: node.node.network!.multiaddrs() }, governance: { flTemplates: [expected] } }, { embeddedModel: false })
    await waitFor('adverts', () => node.node.network!.table.size === 1)
    const halves = stratified(breastCancer().slice(0, 120), 2)
    for (const [i, n] of [node, site].entries()) {
      const file = join(root, `patients-${i}.csv`)
      writeCsv(file, halves[i]!)
      const res = await post(`${n.url}/api/plexus/data`, { name: 'patients', path: file })
      assert.equal(res.status, 201, await res.text())
    }
  })
  after(async () => {
    await site?.close()
    await node?.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('lists the built-in templates and the approved hashes', async () => {
    const res = await fetch(`${node.url}/api/plexus/fl/templates`)
    assert.equal(res.status, 200)
    const body = await res.json() as { templates: Array<{ id: string, title: string, spec: { model: { kind: string } } }>, approved: string[] }
    assert.deepEqual(body.templates.map(t => t.id), BUILT_IN_TEMPLATES.map(t => t.id))
    assert.equal(body.templates.find(t => t.id === 'mlp')?.spec.model.kind, 'mlp')
    assert.deepEqual(body.approved, [expected])
  })

  it('creates a job from a template bound to a local dataset; its rounds stream as server-sent events', async () => {
    const res = await post(`${node.url}/api/plexus/fl/templates/logistic/jobs`, { name: 'from-template', dataset: 'patients', label: 'label', rounds: 3 })
    const text = await res.text()
    assert.equal(res.status, 201, text)
    const job = JSON.parse(text) as { id: string, name: string, rounds: number, parameters: number, template: { id: string, hash: string, approved: boolean } }
    assert.equal(job.name, 'from-template')
    assert.equal(job.rounds, 3)
    // Binary logistic regression over the 30 features: 30 weights and a bias.
    assert.equal(job.parameters, 31)
    assert.deepEqual(job.template, { id: 'logistic', hash: expected, approved: true })

    // Live: one event per finished round, then the final status, then the stream ends.
    const events = await readEvents(`${node.url}/api/plexus/fl/jobs/${job.id}/events`)
    const rounds = events.filter(e => e.type === 'round').map(e => e.record!)
    assert.deepEqual(rounds.map(r => r.round), [1, 2, 3])
    for (const r of rounds) assert.ok(r.evaluation != null && r.evaluation.accuracy > 0.5, JSON.stringify(r))
    assert.deepEqual(events[events.length - 1], { type: 'status', jobId: job.id, status: 'completed', reason: null })
    // The site took part because governance approved the template.
    const offers = await (await fetch(`${site.url}/api/plexus/fl/jobs`)).json() as { participating: Array<{ jobId: string, reason: string | null, roundsTrained: number }> }
    assert.deepEqual(offers.participating.map(p => [p.jobId, p.reason, p.roundsTrained]), [[job.id, 'an approved job template', 3]])
    // After the end, a new stream replays the history and the status, then ends.
    const replay = await readEvents(`${node.url}/api/plexus/fl/jobs/${job.id}/events`)
    assert.deepEqual(replay.map(e => e.type), ['round', 'round', 'round', 'status'])
    assert.equal((await fetch(`${node.url}/api/plexus/fl/jobs/fl-nope/events`)).status, 404)
    assert.equal((await fetch(`${node.url}/api/plexus/fl/jobs/${encodeURIComponent('bad id!')}/events`)).status, 400)
  })

  it('refuses bad input with a clear error', async () => {
    const cases: Array<[string, unknown, number, string, RegExp]> = [
      ['nope', { name: 'x', dataset: 'patients', label: 'label' }, 404, 'PLX_ERR_FL_TEMPLATE_NOT_FOUND', /logistic/],
      ['logistic', { name: 'x', dataset: 'missing', label: 'label' }, 404, 'PLX_ERR_DATASET_NOT_FOUND', /missing/],
      ['logistic', { name: 'x', dataset: 'patients' }, 400, 'PLX_ERR_FL_SPEC_INVALID', /label/],
      ['logistic', { name: 'x', dataset: 'patients', label: 'nope' }, 400, 'PLX_ERR_FL_SPEC_INVALID', /nope/],
      ['logistic', { name: 'x', dataset: 'patients', label: 'label', features: ['f0', 'ghost'] }, 400, 'PLX_ERR_FL_SPEC_INVALID', /ghost/],
      ['logistic', { name: 'x', dataset: 'patients', label: 'label', rounds: 0 }, 400, 'PLX_ERR_FL_SPEC_INVALID', /rounds/],
      ['logistic', { name: 'x', dataset: 'patients', label: 'label', surprise: true }, 400, 'PLX_ERR_FL_SPEC_INVALID', /surprise/]
    ]
    for (const [template, body, status, code, message] of cases) {
      const res = await post(`${node.url}/api/plexus/fl/templates/${template}/jobs`, body)
      const err = await res.json() as { error: { code: string, message: string } }
      assert.equal(res.status, status, JSON.stringify(err))
      assert.equal(err.error.code, code)
      assert.match(err.error.message, message)
    }
    const notJson = await fetch(`${node.url}/api/plexus/fl/templates/logistic/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,2' })
    assert.equal(notJson.status, 400)
  })
})

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, tempDir, type TestNode } from '../helpers/node.js'
import { FEATURES, breastCancer, writeCsv, post } from '../helpers/federated.js'
import { BUILT_IN_TEMPLATES } from '../../src/federated/templates.js'
import { parseJobSpec, templateHash } from '../../src/federated/spec.js'

// Job templates over real HTTP: the list, a job made from one (its hash matches the spec's template
// hash, and governance approval shows), and bad input refused with the project's codes.
describe('federated job templates API', () => {
  const root = tempDir('plexus-fl-tpl-')
  let node: TestNode
  const logistic = BUILT_IN_TEMPLATES.find(t => t.id === 'logistic')!
  const expected = templateHash(parseJobSpec({ ...logistic.spec, name: 'from-template', rounds: 3, dataset: { name: 'patients', features: FEATURES, label: 'label' } }))

  before(async () => {
    node = await startTestNode({ network: { networkId: 'fl-tpl-test' }, governance: { flTemplates: [expected] } }, { embeddedModel: false })
    const file = join(root, 'patients.csv')
    writeCsv(file, breastCancer().slice(0, 60))
    const res = await post(`${node.url}/api/plexus/data`, { name: 'patients', path: file })
    assert.equal(res.status, 201, await res.text())
  })
  after(async () => {
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

  it('creates a job from a template bound to a local dataset', async () => {
    const res = await post(`${node.url}/api/plexus/fl/templates/logistic/jobs`, { name: 'from-template', dataset: 'patients', label: 'label', rounds: 3 })
    const text = await res.text()
    assert.equal(res.status, 201, text)
    const job = JSON.parse(text) as { id: string, name: string, rounds: number, parameters: number, template: { id: string, hash: string, approved: boolean } }
    assert.equal(job.name, 'from-template')
    assert.equal(job.rounds, 3)
    // Binary logistic regression over the 30 features: 30 weights and a bias.
    assert.equal(job.parameters, 31)
    assert.deepEqual(job.template, { id: 'logistic', hash: expected, approved: true })
    const shown = await (await fetch(`${node.url}/api/plexus/fl/jobs/${job.id}`)).json() as { job: { name: string } }
    assert.equal(shown.job.name, 'from-template')
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

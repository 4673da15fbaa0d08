import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { plexus, plexusAsync } from '../helpers/cli.js'
import { tempDir } from '../helpers/node.js'
import { pidAlive } from '../../src/devnet/processes.js'

describe('plexus demo (npm start)', () => {
  it('runs the guided tour on a 3-node devnet and stops it with --exit', async () => {
    const r = await plexusAsync(['demo', '--exit'])
    assert.equal(r.code, 0, r.stderr + r.stdout)
    const out = r.stdout
    // The nodes: A without a model, B and C with the embedded one.
    const rows = [...out.matchAll(/^\s+([ABC])\s+(http:\/\/127\.0\.0\.1:\d+)\s+(12D3\w+)\s+(\d+)\s+(.+)$/gm)]
    assert.deepEqual(rows.map(m => [m[1], m[5]]), [['A', '(none)'], ['B', 'stories260K'], ['C', 'stories260K']])
    // A community request to A is served by a peer, with its text and route shown.
    assert.match(out, /→ HTTP 200, served by peer [BC]\n/)
    assert.match(out, /plexus\.route = \{"kind":"peer","peers":\["12D3\w+"\]\}/)
    const text = /text: "Once upon a time(.*)"\n/.exec(out)
    assert.ok(text != null && text[1] !== undefined && text[1].trim().length > 0, 'the served text is printed')
    // The private request is refused, with the reason.
    assert.match(out, /→ HTTP 503 no_local_capacity: Model 'stories260K' cannot run on this node: .*private, so it was not sent anywhere else/)
    // The network status and the way to go on.
    assert.match(out, /peers\s+2 advertised/)
    assert.match(out, /PEER\s+CONNECTED\s+LATENCY\s+REPUTATION/)
    // Three clinics train together: eight rounds, every clinic in each, and the accuracy shown.
    const rounds = [...out.matchAll(/round (\d+): 3 clinics, training loss [\d.]+, held-out accuracy ([\d.]+) %/g)]
    assert.deepEqual(rounds.map(m => Number(m[1])), [1, 2, 3, 4, 5, 6, 7, 8])
    const final = /→ done: ([\d.]+) % accuracy/.exec(out)
    assert.ok(final != null && Number(final[1]) > 85, `final accuracy ${final?.[1] ?? '?'}`)
    // Three research sites answer federated statistics: pooled means by sex (442 patients in all),
    // a logistic regression, and a small-cell table refused by every site.
    const means = [...out.matchAll(/^\s+([12])\s+bmi\s+(\d+)\s+([\d.]+)$/gm)]
    assert.equal(means.length, 2)
    assert.equal(means.reduce((n, m) => n + Number(m[2]), 0), 442)
    assert.match(out, /binomial GLM on n = 442; deviance [\d.]+, dispersion 1, \d+ IRLS rounds/)
    assert.equal([...out.matchAll(/site [ABC] refused: Disclosure control refused the query/g)].length, 3)
    assert.match(out, /curl http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions .*X-Plexus-Privacy: community/)
    assert.match(out, /Open http:\/\/127\.0\.0\.1:\d+\/ in a browser: the dashboard/)
    assert.match(out, /The demo is over; the devnet is stopped\.\n$/)
    // Nothing is left behind: the nodes are stopped and the temporary directory is gone.
    for (const m of rows) assert.ok(!pidAlive(Number(m[4])), `node ${m[1] ?? ''} is stopped`)
    const dir = /in (\S*plexus-demo-\S+)\n/.exec(out)?.[1]
    assert.ok(dir != null && !existsSync(dir), 'the temporary devnet directory is removed')
  })

  it('refuses a directory that is not empty, with exit code 2', () => {
    const dir = tempDir('plexus-demo-test-')
    try {
      writeFileSync(join(dir, 'keep.txt'), 'mine')
      const r = plexus(['demo', '--exit', '--dir', dir])
      assert.equal(r.code, 2)
      assert.match(r.stderr, /--dir .* is not empty; the demo needs fresh nodes/)
      assert.deepEqual(readdirSync(dir), ['keep.txt'], 'nothing was touched')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, tempDir, FIXTURE_MODEL, FIXTURE_SHA256, type TestNode } from '../helpers/node.js'
import { plexusAsync, type Run } from '../helpers/cli.js'
import { initDataDir } from '../../src/node/node.js'
import { peerSigner } from '../../src/ledger/peer-keys.js'

function ok (r: Run): string {
  assert.equal(r.code, 0, `exit ${String(r.code)}: ${r.stdout}${r.stderr}`)
  return r.stdout
}

describe('plexus gov propose|list|show|vote|tally against a node, and the community model allow-list', { timeout: 300_000 }, () => {
  const root = tempDir('plexus-gov-cli-')
  let node: TestNode
  let asker: TestNode
  const gov = async (...args: string[]): Promise<Run> => await plexusAsync(['gov', ...args, '--url', node.url])

  before(async () => {
    // One member (the serving node); a second node without models asks it for community generations.
    const dir = join(root, 'member')
    const members = [peerSigner(initDataDir(dir).identity).peerId]
    const governance = { members, votingPeriodSeconds: 2, timelockSeconds: 0 }
    node = await startTestNode({ network: { networkId: 'gov-cli-test' }, governance }, { models: [FIXTURE_MODEL], dataDir: dir })
    asker = await startTestNode({ network: { networkId: 'gov-cli-test', bootstrap: node.node.network!.multiaddrs() }, governance }, { embeddedModel: false })
  })

  after(async () => {
    await asker?.close()
    await node?.close()
    rmSync(root, { recursive: true, force: true })
  })

  const community = async (): Promise<number> => (await fetch(`${asker.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-plexus-privacy': 'community' },
    body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 8, seed: 1 })
  })).status

  it('proposes, votes, tallies and applies; refuses bad specs with one sentence', async () => {
    const deadline = Date.now() + 30_000
    while (asker.node.network!.table.size === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(await community(), 200, 'served while any model is allowed')
    const bad = join(root, 'bad.json')
    writeFileSync(bad, JSON.stringify({ title: 'x', change: { type: 'set', param: 'stats.disclosure.tab', value: 'five' } }))
    const refused = await gov('propose', bad)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /Change refused: stats\.disclosure\.tab/)

    const spec = join(root, 'spec.json')
    const other = 'f'.repeat(64)
    writeFileSync(spec, JSON.stringify({ title: 'Only approved models', description: 'allow-list', change: { type: 'set', param: 'network.community.models', value: [other] }, votingPeriodSeconds: 10 }))
    const p = JSON.parse(ok(await gov('propose', spec, '--json'))) as { id: string, status: string }
    assert.equal(p.status, 'voting')
    assert.match(ok(await gov('list')), new RegExp(`${p.id}\\s+voting\\s+network\\.community\\.models`))
    assert.match(ok(await gov('vote', p.id, 'yes')), /Voted yes/)
    const badChoice = await gov('vote', p.id, 'maybe')
    assert.equal(badChoice.code, 1)
    const tally = JSON.parse(ok(await gov('tally', p.id, '--json'))) as { yes: string, eligible: string }
    assert.deepEqual([tally.yes, tally.eligible], ['1', '1'])
    while (node.node.governance!.view(p.id).status !== 'applied' && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
    const shown = ok(await gov('show', p.id))
    assert.match(shown, /APPLIED/)
    assert.match(shown, /applied\s+at .*\[\] → \["f{64}"\]/)
    assert.deepEqual(node.node.config.network.community.models, [other])
    // The node's model is no longer on the allow-list: it stops advertising it for the community.
    assert.notEqual(FIXTURE_SHA256, other)
    node.node.network!.advertiseNow()
    while (asker.node.network!.table.list()[0]?.advert.models.length !== 0 && Date.now() < deadline + 30_000) await new Promise(resolve => setTimeout(resolve, 100))
    assert.deepEqual(asker.node.network!.table.list()[0]?.advert.models, [])
    assert.equal(await community(), 404, 'no peer offers a model off the allow-list')
    // The asker, not a member, learnt the proposal and applied it too, but may not vote.
    assert.equal(asker.node.governance!.view(p.id).status, 'applied')
    assert.deepEqual(asker.node.config.network.community.models, [other])
    await assert.rejects(asker.node.governance!.vote(p.id, 'yes'), { code: 'PLX_ERR_GOV_NOT_ELIGIBLE' })
    const list = JSON.parse(ok(await gov('list', '--json'))) as Array<{ id: string, status: string }>
    assert.deepEqual(list.map(x => [x.id, x.status]), [[p.id, 'applied']])
  })
})

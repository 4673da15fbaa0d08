import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTestNode, tempDir } from '../helpers/node.js'
import { makePeer } from '../helpers/ledger.js'

describe('peer reputation across a restart', () => {
  const dataDir = tempDir('plexus-reputation-')
  after(() => { rmSync(dataDir, { recursive: true, force: true }) })

  it('a node restarted keeps what its peers\' requests earned them; an unreadable file is ignored', async () => {
    // Prepare: a node on a network; a peer failed it twice and served it once.
    const config = { network: { networkId: 'plexus-reputation-test' } }
    const flaky = makePeer().peerId
    let t = await startTestNode(config, { embeddedModel: false, dataDir })
    t.node.network!.table.recordOutcome(flaky, false)
    t.node.network!.table.recordOutcome(flaky, false)
    t.node.network!.table.recordOutcome(flaky, true)

    // Execute: stop (which saves), start again on the same data directory.
    await t.close()
    const file = join(dataDir, 'peers.json')
    assert.ok(existsSync(file))
    t = await startTestNode(config, { embeddedModel: false, dataDir })

    // Assert
    assert.deepEqual(t.node.network!.table.snapshot(), { [flaky]: { served: 1, failed: 2, outcomes: -5 } })
    await t.close()

    // An unreadable file: the node starts without it and writes a good one at its next save.
    writeFileSync(file, '{"not": "peers"')
    t = await startTestNode(config, { embeddedModel: false, dataDir })
    assert.deepEqual(t.node.network!.table.snapshot(), {})
    t.node.network!.table.recordOutcome(flaky, true)
    await t.close()
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { [flaky]: { served: 1, failed: 0, outcomes: 1 } })
  })
})

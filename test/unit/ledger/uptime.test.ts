import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { LedgerLog } from '../../../src/ledger/log.js'
import { deleteMeta, getMeta, setMeta } from '../../../src/ledger/store.js'
import { UptimeScorer, type UptimeComponents } from '../../../src/ledger/uptime.js'
import { silentLogger } from '../../../src/logger.js'
import { tempDir } from '../../helpers/node.js'
import { makePeer } from '../../helpers/ledger.js'

const EPOCH_MS = 60_000
const GENESIS = 1_700_000_000_000

describe('uptime scorer', () => {
  let dir: string
  before(() => { dir = tempDir('plexus-uptime-') })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  // The scorer's counting, with its saved state in a real ledger file. The ping is a stand-in:
  // `up` answers, `down` never does (test/integration/ledger-uptime.test.ts pings real nodes).
  const me = makePeer()
  const up = makePeer().peerId
  const down = makePeer().peerId
  function scorer (log: LedgerLog, now: () => number, warnings: string[] = []): UptimeScorer {
    const logger = silentLogger()
    const components: UptimeComponents = {
      signer: me,
      peers: () => [up, down, me.peerId],
      ping: async peer => { if (peer !== up) throw new Error('no answer') },
      note: () => {},
      has: () => false,
      getMeta: key => getMeta(log.db, key),
      setMeta: (key, value) => { if (value == null) deleteMeta(log.db, key); else setMeta(log.db, key, value) },
      params: () => ({ genesisMs: GENESIS, epochSeconds: EPOCH_MS / 1000 }),
      probeIntervalSeconds: () => 3600,
      logger: { ...logger, warn: (o: unknown, msg?: string) => { warnings.push(msg ?? String(o)) } } as unknown as UptimeComponents['logger'],
      now
    }
    return new UptimeScorer(components)
  }
  /** Probe rounds; the stand-in ping settles within the turn, so each round is counted before the next. */
  async function probeRounds (s: UptimeScorer, rounds: number): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      s.probe()
      await new Promise(resolve => setImmediate(resolve))
    }
  }

  it('a restarted scorer goes on from the counts and peers it saved', async () => {
    // Prepare
    const log = LedgerLog.open({ file: join(dir, 'a.db'), signer: me })
    const t = GENESIS + 5 * EPOCH_MS + 1000
    const first = scorer(log, () => t)
    first.start()
    await probeRounds(first, 4)
    const counted = first.scores(5)

    // Execute: stop (saves), start a new scorer on the same file, whose peer table is empty now.
    first.stop()
    const second = scorer(log, () => t + 2000)
    second.start()

    // Assert
    assert.deepEqual(counted, { [up]: 1000, [down]: 0 })
    assert.deepEqual(second.scores(5), counted)
    assert.deepEqual(second.known().sort(), [up, down].sort())
    second.stop()
    log.close()
  })

  it('unreadable saved counts are dropped with a warning, and counting starts again', async () => {
    // Prepare
    const log = LedgerLog.open({ file: join(dir, 'b.db'), signer: me })
    setMeta(log.db, 'uptime-counts', JSON.stringify({ 5: { [up]: { sent: 1, answered: 9 } } }))
    setMeta(log.db, 'uptime-known', '[not json')
    const warnings: string[] = []

    // Execute
    const s = scorer(log, () => GENESIS + 5 * EPOCH_MS + 1000, warnings)
    s.start()

    // Assert
    assert.deepEqual(s.scores(5), {})
    assert.deepEqual(s.known(), [])
    assert.equal(warnings.length, 2)
    s.stop()
    log.close()
  })

  it('counts older than the previous epoch are not taken back', async () => {
    // Prepare: counts saved in epoch 5; the node comes back in epoch 8.
    const log = LedgerLog.open({ file: join(dir, 'c.db'), signer: me })
    const first = scorer(log, () => GENESIS + 5 * EPOCH_MS + 1000)
    first.start()
    await probeRounds(first, 2)
    first.stop()

    // Execute
    const later = scorer(log, () => GENESIS + 8 * EPOCH_MS + 1000)
    later.start()

    // Assert
    assert.deepEqual(later.scores(5), {})
    assert.deepEqual(later.known().sort(), [up, down].sort())
    later.stop()
    log.close()
  })
})

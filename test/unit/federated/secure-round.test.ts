import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { defaultLearning } from '../../../src/federated/learning.js'
import { parseJobSpec } from '../../../src/federated/spec.js'
import { runSecureRound, SecureRoundParticipant, roundConfig } from '../../../src/federated/secure-round.js'
import { SecAggClient } from '../../../src/federated/secagg/index.js'
import type { CallPeer } from '../../../src/federated/coordinator.js'
import { silentLogger } from '../../../src/logger.js'
import { makePeer } from '../../helpers/ledger.js'
import { hasCode } from './fixtures.js'

const P = 16
const spec = parseJobSpec({
  name: 'r', model: { kind: 'logistic' }, dataset: { name: 'd', features: ['a'], label: 'y' }, classes: 2, rounds: 1,
  secureAggregation: { enabled: true, clipRange: 1 }
})

/** Four participants with real node keys; each trains to a constant update of 0.1·(k+1). */
function participants (): Map<string, SecureRoundParticipant> {
  const learning = defaultLearning()
  return new Map(Array.from({ length: 4 }, (_, k) => {
    const signer = makePeer()
    return [signer.peerId, new SecureRoundParticipant({
      fit: async () => ({ update: new Float32Array(P).fill(0.1 * (k + 1)), numExamples: 10, loss: 0.5 }),
      spec, learning, parameters: async () => P, signer, jobId: 'job'
    })]
  }))
}

function network (nodes: Map<string, SecureRoundParticipant>, tamper: (message: Record<string, unknown>) => Record<string, unknown> = m => m): CallPeer {
  return async (peer, message) => {
    const m = tamper(JSON.parse(JSON.stringify(message)) as Record<string, unknown>)
    return JSON.parse(JSON.stringify(await nodes.get(peer)!.handle(String(m.type), m))) as Record<string, unknown>
  }
}

const input = (nodes: Map<string, SecureRoundParticipant>, call: CallPeer) => ({
  jobId: 'job', round: 1, selected: [...nodes.keys()], parameters: P, spec, deadlineMs: 5_000, call,
  fitMessage: { weights: '', config: {} }, logger: silentLogger()
})

describe('secure rounds with keys signed by the participants', () => {
  it('sums the participants\' updates', async () => {
    const nodes = participants()
    const r = await runSecureRound(input(nodes, network(nodes)))
    assert.equal(r.contributed.length, 4)
    // Σ s_k·u_k with s_k = 10 / maxWeight, and Σ w_k = 40 in the last coordinate.
    const s = 10 / spec.secureAggregation.maxWeight
    assert.ok(Math.abs(r.sum[0]! - s * (0.1 + 0.2 + 0.3 + 0.4)) < 1e-4, String(r.sum[0]))
    assert.equal(Math.round(r.sum[P]!), 40)
  })

  it('a coordinator that swaps one participant\'s keys for its own gets no sum: every participant refuses', async () => {
    const nodes = participants()
    const victim = [...nodes.keys()][1]!
    const mine = new SecAggClient(roundConfig('job', 1, spec, P, 4), victim).advertiseKeys()
    let swapped = 0
    const mitm = network(nodes, m => {
      if (m.type !== 'secagg-share') return m
      swapped++
      const roster = m.roster as { clients: Array<{ client: string }> }
      return { ...m, roster: { ...roster, clients: roster.clients.map(e => e.client === victim ? { ...e, cPublicKey: mine.cPublicKey, sPublicKey: mine.sPublicKey } : e) } }
    })
    await assert.rejects(runSecureRound(input(nodes, mitm)), hasCode('PLX_ERR_SECAGG_ABORTED'))
    assert.equal(swapped, 4)
    // And straight to one participant, in a round of its own: the refusal names the forged key's owner.
    const node = [...nodes.values()][0]!
    await node.handle('secagg-advertise', { type: 'secagg-advertise', jobId: 'job', round: 2, maxClients: 4 })
    const forged = { type: 'secagg-share', jobId: 'job', round: 2, roster: { type: 'secagg/roster', session: 'job/2', clients: [{ client: victim, cPublicKey: mine.cPublicKey, sPublicKey: mine.sPublicKey }] }, attestations: {} }
    await assert.rejects(node.handle('secagg-share', forged), (err: unknown) => hasCode('PLX_ERR_FL_PROTOCOL')(err) && (err as Error).message.includes(`keys for ${victim} that ${victim} did not sign`))
  })

  it('the coordinator leaves out a participant whose keys come unsigned', async () => {
    const nodes = participants()
    const quiet = [...nodes.keys()][2]!
    const base = network(nodes)
    const call: CallPeer = async (peer, message, t) => {
      const reply = await base(peer, message, t)
      return peer === quiet && (message as { type: string }).type === 'secagg-advertise' ? { ...reply, keySignature: 'x'.repeat(86) } : reply
    }
    const r = await runSecureRound(input(nodes, call))
    assert.deepEqual(r.contributed.sort(), [...nodes.keys()].filter(k => k !== quiet).sort())
  })
})

import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv } from 'node:crypto'
import {
  SecAggClient, SecAggServer, quantize, resolveConfig, runSecAggRound, maxClientMessageBytes, fromBase64url,
  type AdvertiseKeysMessage, type EncryptedSharesMessage, type RosterMessage, type SecAggConfig, type SimulationReport, type SimulationStep
} from '../../../src/federated/secagg/index.js'
import { RosterView } from '../../../src/federated/secagg/roster.js'
import { maskingGraph, isConnected } from '../../../src/federated/secagg/graph.js'
import { isPlexusError, type ErrorCode } from '../../../src/errors.js'

/** `count` values in [−scale, scale], the same for the same seed (AES-256-CTR keystream). */
function seededFloats (count: number, seed: number, scale: number): Float32Array {
  const key = Buffer.alloc(32)
  key.writeUInt32LE(seed)
  const bytes = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(count * 4))
  return Float32Array.from(new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + count * 4)), w => (w / 2 ** 31 - 1) * scale)
}

function clientIds (n: number): string[] {
  return Array.from({ length: n }, (_, i) => `client-${String(i).padStart(2, '0')}`)
}

/** Inputs in [−1.2, 1.2] (some beyond the clip range of 1), one per client. */
function makeInputs (n: number, length: number, seed: number): Map<string, Float32Array> {
  return new Map(clientIds(n).map((id, k) => [id, seededFloats(length, seed * 64 + k, 1.2)]))
}

function configFor (n: number, length: number, extra: Partial<SecAggConfig> = {}): SecAggConfig {
  return { session: `test/${n}/${length}/${Math.random()}`, length, clipRange: 1, maxClients: n, ...extra }
}

/** Σ of the quantised inputs of `ids`, mod 2³², as int32. */
function plainIntegerSum (inputs: ReadonlyMap<string, Float32Array>, ids: readonly string[], config: SecAggConfig): Int32Array {
  const c = resolveConfig(config)
  const sum = new Int32Array(c.length)
  for (const id of ids) {
    const q = new Int32Array(quantize(inputs.get(id)!, c).buffer)
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i]! + q[i]!) | 0
  }
  return sum
}

function assertExactSum (report: SimulationReport, inputs: ReadonlyMap<string, Float32Array>, expected: readonly string[], config: SecAggConfig): void {
  assert.deepEqual(report.result.contributors, [...expected].sort())
  assert.deepEqual(report.result.quantisedSum, plainIntegerSum(inputs, expected, config))
}

function isCode (code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isPlexusError(err, code), `expected ${code}, got ${String(err)}`)
    for (const m of mentions) assert.ok(err.message.includes(m), `'${err.message}' does not mention '${m}'`)
    return true
  }
}

/** Flips one byte of base64url-encoded bytes. */
function flipByte (encoded: string, at: number): string {
  const bytes = Buffer.from(encoded, 'base64url')
  bytes[at] = bytes[at]! ^ 0x40
  return bytes.toString('base64url')
}

describe('secure aggregation: sums', () => {
  it('equals the plain integer sum exactly with no dropouts', () => {
    // Prepare
    const inputs = makeInputs(10, 500, 1)
    const config = configFor(10, 500)

    // Execute
    const report = runSecAggRound({ config, inputs })

    // Assert
    assertExactSum(report, inputs, [...inputs.keys()], config)
    assert.deepEqual(report.result.dropped, [])
    assert.deepEqual(report.result.rejected, [])
    assert.deepEqual(report.clientErrors, [])
    // Dequantised: within n·Δ/2 of the sum of the clipped floats
    const c = resolveConfig(config)
    for (let i = 0; i < c.length; i++) {
      const exact = [...inputs.values()].reduce((s, x) => s + Math.max(-1, Math.min(1, x[i]!)), 0)
      assert.ok(Math.abs(report.result.sum[i]! - exact) <= 10 * c.step / 2 + 1e-6, `i=${i}`)
    }
  })

  it('survives a third of the clients dropping after masking (before unmasking)', () => {
    // Prepare
    const inputs = makeInputs(12, 300, 2)
    const config = configFor(12, 300)
    const ids = [...inputs.keys()]

    // Execute: 4 of 12 send their masked input, then vanish
    const report = runSecAggRound({ config, inputs, dropout: { unmask: [ids[0]!, ids[5]!, ids[6]!, ids[11]!] } })

    // Assert: their inputs are in the sum (their self-masks come from the others' shares)
    assertExactSum(report, inputs, ids, config)
  })

  it('survives a third of the clients dropping after sharing keys (before masking)', () => {
    // Prepare
    const inputs = makeInputs(12, 300, 3)
    const config = configFor(12, 300)
    const ids = [...inputs.keys()]
    const gone = [ids[1]!, ids[2]!, ids[7]!, ids[10]!]

    // Execute
    const report = runSecAggRound({ config, inputs, dropout: { mask: gone } })

    // Assert: their pairwise masks were removed from the survivors' inputs
    assertExactSum(report, inputs, ids.filter(id => !gone.includes(id)), config)
    assert.deepEqual(report.result.dropped, [...gone].sort())
  })

  it('survives dropouts at every step of one round', () => {
    // Prepare: 15 clients, t = 10
    const inputs = makeInputs(15, 200, 4)
    const config = configFor(15, 200)
    const ids = [...inputs.keys()]

    // Execute: one never shares keys, two drop before masking, two before unmasking
    const report = runSecAggRound({ config, inputs, dropout: { share: [ids[3]!], mask: [ids[4]!, ids[9]!], unmask: [ids[0]!, ids[14]!] } })

    // Assert
    assertExactSum(report, inputs, ids.filter(id => ![ids[3], ids[4], ids[9]].includes(id)), config)
  })

  it('gives exact counts in an extra coordinate, for a weighted mean', () => {
    // Prepare: each client sends n_u·Δ_u (|Δ_u| ≤ 1, so within the clip range of 64) and n_u
    const counts = [30, 12, 7, 51, 9]
    const length = 65
    const config = configFor(5, length, { extras: 1, clipRange: 64 })
    const inputs = new Map(clientIds(5).map((id, k) => {
      const v = seededFloats(length, 100 + k, counts[k]!)
      v[length - 1] = counts[k]!
      return [id, v]
    }))

    // Execute
    const report = runSecAggRound({ config, inputs })

    // Assert
    const total = counts.reduce((a, b) => a + b, 0)
    assert.equal(report.result.sum[length - 1], total)
    const step = resolveConfig(config).step
    for (let i = 0; i < length - 1; i++) {
      const weighted = [...inputs.values()].reduce((s, v) => s + v[i]!, 0)
      // within 5·Δ/2 of quantisation error, plus float32 rounding of the result
      assert.ok(Math.abs(report.result.sum[i]! - weighted) <= 5 * step / 2 + Math.abs(weighted) * 2 ** -23, `i=${i}`)
    }
  })

  it('sums exactly over a sparse masking graph, with dropouts', () => {
    // Prepare: 24 clients with at least 8 neighbours each
    const inputs = makeInputs(24, 200, 6)
    const config = configFor(24, 200, { neighbours: 8, threshold: 0.55 })
    const ids = [...inputs.keys()]

    // Execute
    const report = runSecAggRound({ config, inputs, dropout: { mask: [ids[2]!], unmask: [ids[20]!] } })

    // Assert
    assertExactSum(report, inputs, ids.filter(id => id !== ids[2]), config)
  })
})

describe('secure aggregation: aborts', () => {
  const cases: Array<[string, SimulationStep, number, string]> = [
    ['too few clients share keys', 'share', 5, 'shared keys'],
    ['too few clients send masked inputs', 'mask', 5, 'masked inputs'],
    ['too few survivors answer the unmask request', 'unmask', 5, 'sent their shares']
  ]
  for (const [name, step, drop, mention] of cases) {
    it(`aborts cleanly when ${name}`, () => {
      // Prepare: 12 clients, t = 8, 5 drop
      const inputs = makeInputs(12, 50, 7)
      const config = configFor(12, 50)
      const made: SecAggServer[] = []

      // Execute / Assert
      assert.throws(() => runSecAggRound({
        config,
        inputs,
        dropout: { [step]: [...inputs.keys()].slice(0, drop) },
        server: c => { made.push(new SecAggServer(c)); return made[0]! }
      }), isCode('PLX_ERR_SECAGG_ABORTED', mention, '8 needed'))
      const server = made[0]!
      assert.equal(server.phase, 'aborted')
      assert.equal(server.receive('client-11', { type: 'secagg/unmask-shares' }).accepted, false)
      assert.throws(() => server.finalize(), isCode('PLX_ERR_SECAGG_STATE'))
    })
  }

  it('aborts when fewer than minClients advertise keys', () => {
    const inputs = makeInputs(4, 10, 8)
    assert.throws(() => runSecAggRound({ config: configFor(4, 10, { minClients: 4 }), inputs, dropout: { advertise: ['client-00'] } }),
      isCode('PLX_ERR_SECAGG_ABORTED', '3 clients advertised keys, 4 needed'))
  })
})

describe('secure aggregation: the coordinator never holds an individual input', () => {
  /** A coordinator that keeps a copy of everything it is given. */
  class RecordingServer extends SecAggServer {
    readonly received: unknown[] = []
    override receive (from: string, message: unknown): ReturnType<SecAggServer['receive']> {
      this.received.push(structuredClone(message))
      return super.receive(from, message)
    }
  }

  /** Every string and number inside a value. */
  function leaves (value: unknown, out: unknown[] = []): unknown[] {
    if (Array.isArray(value)) value.forEach(v => leaves(v, out))
    else if (value != null && typeof value === 'object') Object.values(value).forEach(v => leaves(v, out))
    else out.push(value)
    return out
  }

  it('sees only masked vectors, none equal or close to any client\'s quantised input', () => {
    // Prepare: inputs with many equal coordinates, so that an unmasked vector would stand out
    const n = 9
    const length = 256
    const config = configFor(n, length)
    const c = resolveConfig(config)
    const inputs = new Map(clientIds(n).map((id, k) => [id, Float32Array.from({ length }, (_, i) => ((i + k) % 4) / 8)]))
    const quantised = [...inputs.values()].map(x => quantize(x, c))
    const made: RecordingServer[] = []

    // Execute: with dropouts after sharing and after masking, so that every kind of unmasking happens
    const report = runSecAggRound({
      config,
      inputs,
      server: cfg => { made.push(new RecordingServer(cfg)); return made[0]! },
      dropout: { mask: ['client-03'], unmask: ['client-05'] }
    })

    // Assert
    assert.equal(report.result.contributors.length, n - 1)
    let vectors = 0
    for (const value of leaves(made[0]!.received)) {
      if (typeof value !== 'string') continue
      const bytes = fromBase64url(value, c.vectorBytes)
      if (bytes == null) continue
      vectors++
      const y = new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length))
      for (const x of quantised) {
        let same = 0
        for (let i = 0; i < length; i++) if (y[i] === x[i]) same++
        // A masked coordinate equals the input with probability 2⁻³²: allow one coincidence.
        assert.ok(same <= 1, `a received vector matches a client's input in ${same} of ${length} coordinates`)
      }
    }
    assert.equal(vectors, n - 1, 'every masked input was examined')
    // The sum is still right: the test really exercised the protocol.
    assertExactSum(report, inputs, clientIds(n).filter(id => id !== 'client-03'), config)
  })

  it('has no method that takes or returns an individual vector', () => {
    const methods = Object.getOwnPropertyNames(SecAggServer.prototype).filter(m => m !== 'constructor').sort()
    assert.deepEqual(methods, ['closeAdvertise', 'closeMaskedInput', 'closeShareKeys', 'finalize', 'phase', 'receive', 'rejected'])
  })
})

describe('secure aggregation: bad input', () => {
  it('refuses garbage from a client without throwing, names it, and carries on without it', () => {
    // Prepare
    const inputs = makeInputs(8, 40, 9)
    const config = configFor(8, 40)
    const garbage: unknown[] = [null, 42, 'text', [], {}, { type: 'secagg/masked-input' }]

    // Execute: client-02 sends a short vector instead of its masked input; client-06 sends junk first
    const report = runSecAggRound({
      config,
      inputs,
      server: cfg => {
        const s = new SecAggServer(cfg)
        for (const g of garbage) assert.equal(s.receive('client-06', g).accepted, false)
        return s
      },
      intercept: (direction, step, client, message) => {
        if (direction === 'up' && step === 'mask' && client === 'client-02') {
          const m = message as { vector: string }
          return { ...m, vector: m.vector.slice(0, 40) }
        }
        return message
      }
    })

    // Assert
    assertExactSum(report, inputs, clientIds(8).filter(id => id !== 'client-02' && id !== 'client-06'), config)
    const rejected = report.result.rejected.map(r => r.client)
    assert.ok(rejected.includes('client-02') && rejected.includes('client-06'))
    for (const r of report.result.rejected) {
      assert.equal(r.error.code, 'PLX_ERR_SECAGG_MESSAGE')
      assert.ok(r.error.message.includes(r.client), r.error.message)
    }
  })

  it('refuses malformed, misaddressed, duplicated and out-of-phase messages', () => {
    // Prepare
    const config = configFor(3, 8)
    const server = new SecAggServer(config)
    const a = new SecAggClient(config, 'a')
    const advert = a.advertiseKeys()

    // Execute / Assert
    const refuse = (from: string, message: unknown, mention: string): void => {
      const r = server.receive(from, message)
      assert.equal(r.accepted, false, mention)
      if (!r.accepted) {
        assert.equal(r.error.code, 'PLX_ERR_SECAGG_MESSAGE')
        assert.ok(r.error.message.includes(mention), `'${r.error.message}' lacks '${mention}'`)
      }
    }
    refuse('b', advert, "claims to come from 'a'")
    assert.equal(server.receive('a', advert).accepted, true)
    const other = (id: string): AdvertiseKeysMessage => ({ ...new SecAggClient(config, id).advertiseKeys() })
    refuse('c', { ...other('c'), session: 'other' }, 'session')
    refuse('d', { ...other('d'), extra: 1 }, 'extra')
    refuse('e', { ...other('e'), cPublicKey: 'x'.repeat(43) + '!' }, 'cPublicKey')
    refuse('f', { ...other('f'), sPublicKey: advert.cPublicKey }, 'repeated')
    refuse('g', { ...other('g'), cPublicKey: Buffer.alloc(32).toString('base64url') }, 'unusable')
    refuse('x'.repeat(300), { ...other('h'), client: 'x'.repeat(300) }, 'client')
    refuse('i', { type: 'secagg/masked-input', session: config.session, client: 'i', vector: '' }, 'type')
    refuse('a', advert, 'already')
    // A client refused once stays out of the round, even with a good message afterwards.
    refuse('c', other('c'), 'earlier message')
    assert.equal(server.receive('j', other('j')).accepted, true)
    assert.deepEqual(new Set(server.rejected.map(r => r.client)), new Set(['b', 'c', 'd', 'e', 'f', 'g', 'x'.repeat(200), 'i', 'a']))
  })

  it('bounds every client message size for the transport', () => {
    const c = resolveConfig({ ...configFor(100, 100_000) })
    const bound = maxClientMessageBytes(c)
    assert.ok(bound >= Math.ceil(c.vectorBytes * 4 / 3))
    assert.ok(bound < 2 * c.vectorBytes)
  })

  it('a tampered share ciphertext is refused by its recipient, naming the sender', () => {
    // Prepare
    const inputs = makeInputs(9, 30, 10)
    const config = configFor(9, 30)

    // Execute: the coordinator alters the ciphertext client-04 sent to client-01
    const report = runSecAggRound({
      config,
      inputs,
      intercept: (direction, step, client, message) => {
        if (direction !== 'down' || step !== 'mask' || client !== 'client-01') return message
        const m = message as EncryptedSharesMessage
        return { ...m, ciphertexts: flipByte(m.ciphertexts, m.from.indexOf('client-04') * 94 + 30) }
      }
    })

    // Assert: client-01 refused and dropped out; the round completed without it
    assert.equal(report.clientErrors.length, 1)
    assert.equal(report.clientErrors[0]!.client, 'client-01')
    assert.ok(isCode('PLX_ERR_SECAGG_SHARE', 'client-04')(report.clientErrors[0]!.error))
    assertExactSum(report, inputs, clientIds(9).filter(id => id !== 'client-01'), config)
  })

  it('names and leaves out a survivor that reveals a wrong share, and still unmasks', () => {
    // Prepare
    const inputs = makeInputs(10, 30, 11)
    const config = configFor(10, 30)

    // Execute: client-00 alters its share of client-03's self-mask seed
    const report = runSecAggRound({
      config,
      inputs,
      intercept: (direction, step, client, message) => {
        if (direction !== 'up' || step !== 'unmask' || client !== 'client-00') return message
        // Its seed shares are those of all 10 survivors, in roster order: client-03's is the fourth.
        const m = message as { seedShares: string }
        return { ...m, seedShares: flipByte(m.seedShares, 3 * 33 + 10) }
      }
    })

    // Assert
    assertExactSum(report, inputs, clientIds(10), config)
    const liar = report.result.rejected.find(r => r.client === 'client-00')
    assert.ok(liar != null && isCode('PLX_ERR_SECAGG_SHARE', 'client-00', 'client-03')(liar.error))
  })

  it('aborts, naming the dealer, when a client dealt shares of another secret than it committed to', () => {
    const inputs = makeInputs(6, 20, 12)
    assert.throws(() => runSecAggRound({
      config: configFor(6, 20),
      inputs,
      intercept: (direction, step, client, message) =>
        direction === 'up' && step === 'share' && client === 'client-02' ? { ...(message as object), seedDigest: Buffer.alloc(32, 7).toString('base64url') } : message
    }), isCode('PLX_ERR_SECAGG_ABORTED', 'client-02'))
  })

  it('a client refuses a wrong-length input and may try again', () => {
    // Prepare: drive one client by hand up to masking
    const config = configFor(3, 16)
    const server = new SecAggServer(config)
    const clients = ['a', 'b', 'c'].map(id => new SecAggClient(config, id))
    for (const cl of clients) server.receive(cl.id, cl.advertiseKeys())
    const roster = server.closeAdvertise()
    for (const cl of clients) assert.equal(server.receive(cl.id, cl.shareKeys(roster)).accepted, true)
    const boxes = server.closeShareKeys()

    // Execute / Assert
    assert.throws(() => clients[0]!.maskedInput(new Float32Array(15), boxes.get('a')), isCode('PLX_ERR_SECAGG_INPUT', '15'))
    assert.equal(clients[0]!.phase, 'shared')
    const m = clients[0]!.maskedInput(new Float32Array(16).fill(0.5), boxes.get('a'))
    assert.equal(server.receive('a', m).accepted, true)
  })
})

describe('secure aggregation: clients protect themselves', () => {
  function setUp (n: number, extra: Partial<SecAggConfig> = {}): { config: SecAggConfig, server: SecAggServer, clients: SecAggClient[], roster: RosterMessage } {
    const config = configFor(n, 8, extra)
    const server = new SecAggServer(config)
    const clients = clientIds(n).map(id => new SecAggClient(config, id))
    for (const c of clients) server.receive(c.id, c.advertiseKeys())
    return { config, server, clients, roster: server.closeAdvertise() }
  }

  it('refuses a roster that leaves it out, changes its keys, is unsorted or repeats a key', () => {
    // Prepare: four altered rosters, each shown to a different client
    const { roster, clients } = setUp(4)
    const entries = roster.clients
    const bad: Array<[SecAggClient, RosterMessage, string]> = [
      [clients[0]!, { ...roster, clients: entries.slice(1) }, 'does not include'],
      [clients[1]!, { ...roster, clients: entries.map((e, i) => i === 1 ? { ...e, sPublicKey: entries[0]!.sPublicKey } : e) }, 'repeats a public key'],
      [clients[2]!, { ...roster, clients: [entries[0]!, entries[2]!, entries[1]!, entries[3]!] }, 'not sorted'],
      [clients[3]!, { ...roster, clients: entries.map((e, i) => i === 3 ? { ...e, cPublicKey: Buffer.alloc(32, 5).toString('base64url') } : e) }, 'other public keys']
    ]

    // Execute / Assert
    for (const [client, r, mention] of bad) {
      assert.throws(() => client.shareKeys(r), isCode('PLX_ERR_SECAGG_MESSAGE', mention))
      assert.equal(client.phase, 'failed')
    }
  })

  it('answers one unmask request only, and refuses contradictory ones', () => {
    // Prepare: run rounds 1 and 2 by hand
    const { server, clients, roster } = setUp(5)
    for (const c of clients) server.receive(c.id, c.shareKeys(roster))
    const boxes = server.closeShareKeys()
    for (const c of clients) server.receive(c.id, c.maskedInput(new Float32Array(8), boxes.get(c.id)))
    const request = server.closeMaskedInput()
    const [a, b, c, d] = clients

    // Execute / Assert
    assert.throws(() => a!.unmask({ ...request, survivors: request.survivors.filter(s => s !== a!.id), dropped: [a!.id] }), isCode('PLX_ERR_SECAGG_MESSAGE', 'survivor'))
    assert.throws(() => b!.unmask({ ...request, dropped: [request.survivors[0]!] }), isCode('PLX_ERR_SECAGG_MESSAGE', 'both'))
    assert.throws(() => c!.unmask({ ...request, survivors: request.survivors.slice(0, 2).concat(c!.id) }), isCode('PLX_ERR_SECAGG_MESSAGE', 'not listed'))
    assert.throws(() => d!.unmask({ ...request, survivors: [...request.survivors.slice(0, 4), 'stranger'] }), isCode('PLX_ERR_SECAGG_MESSAGE', 'stranger'))
    const e = clients[4]!
    // The request's two lists may also be passed as they are.
    assert.equal(server.receive(e.id, e.unmask(request.survivors, request.dropped)).accepted, true)
    assert.throws(() => e.unmask(request), isCode('PLX_ERR_SECAGG_STATE'))
  })

  it('refuses steps out of order', () => {
    const config = configFor(3, 4)
    const c = new SecAggClient(config, 'a')
    assert.throws(() => c.shareKeys({}), isCode('PLX_ERR_SECAGG_STATE'))
    assert.throws(() => c.unmask({}), isCode('PLX_ERR_SECAGG_STATE'))
    c.advertiseKeys()
    assert.throws(() => c.advertiseKeys(), isCode('PLX_ERR_SECAGG_STATE'))
    const server = new SecAggServer(config)
    assert.throws(() => server.finalize(), isCode('PLX_ERR_SECAGG_STATE'))
    assert.throws(() => server.closeShareKeys(), isCode('PLX_ERR_SECAGG_STATE'))
  })

  it('refuses to unmask when the survivors of a sparse graph are not connected', () => {
    // Prepare: 8 clients on one random cycle (2 neighbours each); t = 6 of 8 must survive
    const { server, clients, roster, config } = setUp(8, { neighbours: 2 })
    for (const c of clients) server.receive(c.id, c.shareKeys(roster))
    const boxes = server.closeShareKeys()
    for (const c of clients) server.receive(c.id, c.maskedInput(new Float32Array(8), boxes.get(c.id)))
    const view = new RosterView(resolveConfig(config), roster.clients)
    // Two clients that are not neighbours: without them the cycle falls apart in two.
    const first = view.ids[0]!
    const opposite = view.ids.find(id => id !== first && !view.isNeighbour(first, id) && !view.connected(view.ids.filter(v => v !== first && v !== id)))!
    const survivors = view.ids.filter(id => id !== first && id !== opposite)
    const asker = clients.find(c => survivors.includes(c.id))!

    // Execute / Assert
    assert.equal(view.graph.neighbours(0).length, 2)
    assert.throws(() => asker.unmask({ type: 'secagg/unmask-request', session: config.session, survivors, dropped: [first, opposite] }),
      isCode('PLX_ERR_SECAGG_ABORTED', 'not connected'))
  })
})

describe('secure aggregation: masking graph and messages', () => {
  it('builds a symmetric random graph of the requested minimum degree, the same from the same seed', () => {
    const seed = new Uint8Array(32).fill(9)
    const g = maskingGraph(50, 6, seed)
    const h = maskingGraph(50, 6, seed)
    for (let i = 0; i < 50; i++) {
      assert.ok(g.neighbours(i).length >= 6)
      assert.ok(!g.neighbours(i).includes(i))
      for (const j of g.neighbours(i)) assert.ok(g.hasEdge(j, i))
      assert.deepEqual(g.neighbours(i), h.neighbours(i))
    }
    assert.ok(isConnected(g, new Set(Array.from({ length: 50 }, (_, i) => i))))
    assert.equal(maskingGraph(5, 4, seed).complete, true)
    assert.equal(maskingGraph(50, 'complete', seed).neighbours(3).length, 49)
  })

  it('uses plain JSON-serialisable messages both ways', () => {
    const inputs = makeInputs(5, 10, 13)
    let count = 0
    runSecAggRound({
      config: configFor(5, 10),
      inputs,
      intercept: (_d, _s, _c, message) => {
        assert.deepEqual(JSON.parse(JSON.stringify(message)), message)
        count++
        return message
      }
    })
    // 4 client messages and 3 coordinator messages per client
    assert.equal(count, 5 * 7)
  })
})

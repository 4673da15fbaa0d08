import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  runSecureSum, SecureSumSite, maxSecureSumMessageBytes, encodeFixedPoint, decodeFixedPoint, fixedPointEncoding, secureSumConfig, maxMagnitude,
  DEFAULT_FRACTION_BITS, DEFAULT_LIMBS, MAX_VALUES, MAX_QUERY_BYTES, SECURE_SUM_TYPE,
  type SecureSumCall, type FixedPointEncoding
} from '../../../src/analytics/secure-sum.js'
import { PlexusError, isPlexusError, type ErrorCode } from '../../../src/errors.js'
import { seededRandom } from '../../../src/random.js'
import { makePeer, type TestPeer } from '../../helpers/ledger.js'
import { isAttested, SecAggClient } from '../../../src/federated/secagg/index.js'

const F = DEFAULT_FRACTION_BITS
const ENC = fixedPointEncoding()

const rng = seededRandom

/** Values of every kind statistics produce: counts, moderate and large sums, tiny terms, negatives, zero. */
function statsVector (length: number, seed: number): Float64Array {
  const r = rng(seed)
  return Float64Array.from({ length }, (_, i) => {
    const sign = r() < 0.5 ? -1 : 1
    switch (i % 8) {
      case 0: return Math.floor(r() * 10_000) // a count
      case 1: return sign * r() * 1e3
      case 2: return sign * r() * 1e30 // Σx² of large quantities
      case 3: return sign * r() * 1e-15 // tiny, rounded to 2^−64
      case 4: return sign * r() * 1e-25 // below the resolution
      case 5: return 0
      case 6: return sign * (r() * 2 ** 120) // near the top of the range
      default: return sign * r()
    }
  })
}

/** |v| = m·2^e exactly, from the float's bits (independent of the module's encoder). */
function decompose (v: number): { sign: bigint, m: bigint, e: number } {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, v)
  const bits = view.getBigUint64(0)
  const sign = (bits >> 63n) === 1n ? -1n : 1n
  const exp = Number((bits >> 52n) & 0x7ffn)
  const frac = bits & ((1n << 52n) - 1n)
  return exp === 0 ? { sign, m: frac, e: -1074 } : { sign, m: frac | (1n << 52n), e: exp - 1075 }
}

/** round(v·2^F), half away from zero, in BigInt arithmetic. */
function fixedOf (v: number, fractionBits = F): bigint {
  const { sign, m, e } = decompose(v)
  const s = e + fractionBits
  if (s >= 0) return sign * (m << BigInt(s))
  const q = m >> BigInt(-s)
  const rem = m - (q << BigInt(-s))
  return sign * (2n * rem >= (1n << BigInt(-s)) ? q + 1n : q)
}

/** v·2^1074 exactly: every float64 is a multiple of 2^−1074. */
function realScaled (v: number): bigint {
  const { sign, m, e } = decompose(v)
  return sign * (m << BigInt(e + 1074))
}

interface Net {
  call: SecureSumCall
  /** Every reply a site sent, as the analyst received it. */
  replies: Array<{ peer: string, step: string, reply: Record<string, unknown> }>
}

/**
 * A network of sites: messages and replies are JSON round-tripped; a site's thrown error reaches
 * the analyst as a generic failure (as over `/plexus/fl/1.0.0`); `drop(peer, step)` makes a site
 * unreachable from that step on.
 */
function network (sites: ReadonlyMap<string, SecureSumSite>, drop: (peer: string, step: string) => boolean = () => false, keepCodes = false): Net {
  const analyst = 'analyst'
  const replies: Net['replies'] = []
  const dropped = new Set<string>()
  const call: SecureSumCall = async (peer, message) => {
    const m = JSON.parse(JSON.stringify(message)) as Record<string, unknown>
    const step = String(m.step)
    if (dropped.has(peer) || (step !== 'abort' && drop(peer, step))) {
      dropped.add(peer)
      throw new Error(`${peer} unreachable`)
    }
    const site = sites.get(peer)
    if (site == null) throw new Error(`no peer ${peer}`)
    let reply: Record<string, unknown>
    try {
      reply = JSON.parse(JSON.stringify(await site.handle(analyst, m))) as Record<string, unknown>
    } catch (err) {
      if (keepCodes) throw err
      throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`peer refused: ${(err as PlexusError).code}: ${(err as Error).message}`])
    }
    replies.push({ peer, step, reply })
    return { ok: true, ...reply }
  }
  return { call, replies }
}

// Sites are real node keys: a site's id in a session is its peer id, and it signs its secagg keys.
const PEERS = Array.from({ length: 12 }, () => makePeer())
const SIGNERS = new Map(PEERS.map(p => [p.peerId, p]))
function site (i: number): string { return PEERS[i]!.peerId }
function signerOf (id: string): TestPeer {
  const p = SIGNERS.get(id)
  if (p == null) throw new Error(`no test key for ${id}`)
  return p
}

function siteIds (n: number): string[] {
  return PEERS.slice(0, n).map(p => p.peerId)
}

function makeSites (inputs: ReadonlyMap<string, Float64Array>, options: Partial<ConstructorParameters<typeof SecureSumSite>[0]> = {}): Map<string, SecureSumSite> {
  return new Map([...inputs].map(([id, v]) => [id, new SecureSumSite({ compute: async () => v.slice(), signer: signerOf(id), ...options })]))
}

function inputsFor (n: number, length: number, seed: number): Map<string, Float64Array> {
  return new Map(siteIds(n).map((id, k) => [id, statsVector(length, seed * 100 + k)]))
}

function isCode (code: ErrorCode, ...mentions: string[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isPlexusError(err, code), `expected ${code}, got ${String(err)}`)
    for (const m of mentions) assert.ok(err.message.includes(m), `'${err.message}' does not mention '${m}'`)
    return true
  }
}

/** Checks the result against the exact fixed-point and real sums of the contributors' inputs. */
function assertExact (result: Awaited<ReturnType<typeof runSecureSum>>, inputs: ReadonlyMap<string, Float64Array>, contributors: readonly string[]): void {
  assert.deepEqual(result.contributed, [...contributors].sort())
  const length = inputs.values().next().value!.length
  for (let i = 0; i < length; i++) {
    let fixed = 0n
    let real = 0n
    let float = 0
    let magnitude = 0
    for (const id of contributors) {
      const v = inputs.get(id)![i]!
      fixed += fixedOf(v)
      real += realScaled(v)
      float += v
      magnitude += Math.abs(v)
    }
    assert.equal(result.exact[i], fixed, `value ${i}: exact fixed-point sum`)
    assert.equal(result.sum[i], Number(fixed) * 2 ** -F, `value ${i}: the exact sum rounded once`)
    // Each site's value is rounded by at most 2^−(F+1).
    const error = fixed * (1n << BigInt(1074 - F)) - real
    assert.ok((error < 0n ? -error : error) <= BigInt(contributors.length) << BigInt(1074 - F - 1), `value ${i}: encoding error within sites·2^−(F+1)`)
    // And against the float sum, which has its own rounding error.
    const tolerance = contributors.length * 2 ** -F + 4 * contributors.length * Number.EPSILON * magnitude
    assert.ok(Math.abs(result.sum[i]! - float) <= tolerance, `value ${i}: ${result.sum[i]} vs float sum ${float}`)
  }
}

describe('fixed-point encoding', () => {
  it('writes 16-bit signed limbs that recombine to round(v·2^F) exactly', () => {
    // Prepare
    const values = statsVector(400, 7)
    values[1] = -0
    values[2] = Number.MIN_VALUE
    values[3] = 2 ** 128 - 2 ** 75 // the largest float64 below the range
    values[4] = -(2 ** 128 - 2 ** 75)
    values[5] = 0.5 * 2 ** -F // a tie, rounded away from zero
    values[6] = -0.5 * 2 ** -F
    const out = new Float32Array(values.length * ENC.limbs)
    // Execute
    encodeFixedPoint(values, ENC, out)
    const { sum, exact } = decodeFixedPoint(out, values.length, ENC)
    // Assert
    assert.ok(out.every(d => Number.isInteger(d) && Math.abs(d) < 2 ** 16))
    for (let i = 0; i < values.length; i++) {
      assert.equal(exact[i], fixedOf(values[i]!), `value ${i}`)
      assert.equal(sum[i], Number(exact[i]) * 2 ** -F)
    }
    assert.equal(exact[5], 1n)
    assert.equal(exact[6], -1n)
    for (let k = 0; k < ENC.limbs; k++) assert.ok(out[4 * ENC.limbs + k]! <= 0, 'a negative value has non-positive limbs')
  })

  it('is exact with no rounding for every value of magnitude at least 2^(52−F)', () => {
    const r = rng(3)
    const values = Float64Array.from({ length: 500 }, () => (r() < 0.5 ? -1 : 1) * 2 ** (52 - F) * (1 + r()) * 2 ** Math.floor(r() * 100))
    const out = new Float32Array(values.length * ENC.limbs)
    encodeFixedPoint(values, ENC, out)
    const { sum } = decodeFixedPoint(out, values.length, ENC)
    assert.deepEqual(sum, values)
  })

  it('refuses non-finite and out-of-range values by index, never by value', () => {
    const out = new Float32Array(3 * ENC.limbs)
    for (const bad of [NaN, Infinity, -Infinity]) {
      assert.throws(() => encodeFixedPoint(Float64Array.of(1, bad, 2), ENC, out), isCode('PLX_ERR_STATS_SECURE_INPUT', 'value 1', 'not a finite number'))
    }
    assert.equal(maxMagnitude(ENC), 2 ** 128)
    const big = 123456789 * 2 ** 110
    assert.throws(() => encodeFixedPoint(Float64Array.of(0, 0, -big), ENC, out), (err: unknown) => {
      assert.ok(isPlexusError(err, 'PLX_ERR_STATS_SECURE_INPUT'))
      assert.ok(err.message.includes('value 2') && err.message.includes('2^128'))
      assert.ok(!err.message.includes(String(big)) && !err.message.includes('1234'), 'the value is not in the message')
      return true
    })
    assert.throws(() => encodeFixedPoint(Float64Array.of(2 ** 128), ENC, out), isCode('PLX_ERR_STATS_SECURE_INPUT'))
  })

  it('takes other encodings and refuses impossible ones', () => {
    const e: FixedPointEncoding = fixedPointEncoding({ fractionBits: 48, limbs: 10 })
    const values = Float64Array.of(Math.PI, -1e30, 1e-20)
    const out = new Float32Array(values.length * e.limbs)
    encodeFixedPoint(values, e, out)
    assert.deepEqual(decodeFixedPoint(out, 3, e).exact, [...values].map(v => fixedOf(v, 48)))
    assert.equal(decodeFixedPoint(out, 3, e).exact[2], 0n, '1e−20 is below 2^−48')
    assert.throws(() => fixedPointEncoding({ limbs: 0 }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'limbs'))
    assert.throws(() => fixedPointEncoding({ limbs: 33 }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'limbs'))
    assert.throws(() => fixedPointEncoding({ limbs: 2, fractionBits: 32 }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'fractionBits'))
    assert.throws(() => fixedPointEncoding({ fractionBits: 1.5 }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'fractionBits'))
  })

  it('derives a secagg configuration whose limbs are exact extras, and refuses bad parameters', () => {
    const c = secureSumConfig('q1', 10, 5, 2 / 3, ENC)
    assert.equal(c.length, 2 + 10 * DEFAULT_LIMBS)
    assert.equal(c.extras, 1 + 10 * DEFAULT_LIMBS)
    assert.throws(() => secureSumConfig('q1', 10, 2, 2 / 3, ENC), isCode('PLX_ERR_STATS_SECURE_INPUT', '3 to'))
    assert.throws(() => secureSumConfig('q1', MAX_VALUES + 1, 5, 2 / 3, ENC), isCode('PLX_ERR_STATS_SECURE_INPUT', 'length'))
    assert.throws(() => secureSumConfig('q1', 10, 5, 0.5, ENC), isCode('PLX_ERR_STATS_SECURE_INPUT', 'threshold'))
    assert.throws(() => secureSumConfig('', 10, 5, 2 / 3, ENC), isCode('PLX_ERR_STATS_SECURE_INPUT', 'session'))
  })
})

describe('runSecureSum with SecureSumSite', () => {
  for (const n of [3, 5, 10]) {
    it(`sums ${n} sites' vectors exactly`, async () => {
      // Prepare
      const inputs = inputsFor(n, 64, n)
      const net = network(makeSites(inputs))
      // Execute
      const result = await runSecureSum({ session: `q-${n}`, sites: [...inputs.keys()].reverse(), length: 64, query: { stat: 'moments' }, call: net.call, deadlineMs: 10_000 })
      // Assert
      assertExact(result, inputs, [...inputs.keys()])
      assert.deepEqual(result.dropped, [])
    })
  }

  it('passes the query and the analyst to compute, and forgets each session when done', async () => {
    const seen: Array<{ query: unknown, analyst: string }> = []
    const sites = new Map(siteIds(3).map(id => [id, new SecureSumSite({
      compute: async (query, analyst) => { seen.push({ query, analyst }); return Float64Array.of(1, 2) },
      signer: signerOf(id)
    })]))
    const result = await runSecureSum({ session: 'q', sites: siteIds(3), length: 2, query: { column: 'age', where: 'x > 1' }, call: network(sites).call, deadlineMs: 10_000 })
    assert.deepEqual([...result.sum], [3, 6])
    assert.deepEqual(seen, Array(3).fill({ query: { column: 'age', where: 'x > 1' }, analyst: 'analyst' }))
    for (const site of sites.values()) assert.equal(site.openSessions, 0)
  })

  it('gives the exact sum of the survivors when a third drop out before masking', async () => {
    const inputs = inputsFor(10, 32, 11)
    const gone = new Set([site(1), site(4), site(8)])
    const net = network(makeSites(inputs), (peer, step) => gone.has(peer) && step === 'mask')
    const result = await runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 32, query: null, call: net.call, deadlineMs: 10_000 })
    assertExact(result, inputs, [...inputs.keys()].filter(id => !gone.has(id)))
    assert.deepEqual(result.dropped, [...gone])
  })

  it('keeps the inputs of sites that drop after masking (their masks are removed from the others\' shares)', async () => {
    const inputs = inputsFor(10, 32, 12)
    const gone = new Set([site(0), site(5), site(9)])
    const net = network(makeSites(inputs), (peer, step) => gone.has(peer) && step === 'unmask')
    const result = await runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 32, query: null, call: net.call, deadlineMs: 10_000 })
    assertExact(result, inputs, [...inputs.keys()])
  })

  it('survives one of three sites dropping after masking, and one of four at open', async () => {
    const inputs = inputsFor(3, 16, 13)
    const afterMask = await runSecureSum({ session: 'q', sites: siteIds(3), length: 16, query: null, call: network(makeSites(inputs), (p, s) => p === site(1) && s === 'unmask').call, deadlineMs: 10_000 })
    assertExact(afterMask, inputs, siteIds(3))
    const four = inputsFor(4, 16, 13)
    const atOpen = await runSecureSum({ session: 'q', sites: siteIds(4), length: 16, query: null, call: network(makeSites(four), p => p === site(2)).call, deadlineMs: 10_000 })
    assertExact(atOpen, four, [site(0), site(1), site(3)])
  })

  it('aborts cleanly when more than a third drop out, and the sites forget the session', async () => {
    const inputs = inputsFor(10, 8, 14)
    const sites = makeSites(inputs)
    const gone = new Set([site(1), site(2), site(3), site(4)])
    const net = network(sites, (peer, step) => gone.has(peer) && step === 'mask')
    await assert.rejects(runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 8, query: null, call: net.call, deadlineMs: 10_000 }),
      isCode('PLX_ERR_STATS_SECURE_SUM', '6 clients sent masked inputs, 7 needed'))
    // The sites still reachable were told to forget it; the unreachable ones forget it when it expires.
    for (const [id, site] of sites) assert.equal(site.openSessions, gone.has(id) ? 1 : 0, id)
    // Dropping at the unmask step instead: too few shares to remove the masks.
    const late = network(makeSites(inputs), (peer, step) => gone.has(peer) && step === 'unmask')
    await assert.rejects(runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 8, query: null, call: late.call, deadlineMs: 10_000 }),
      isCode('PLX_ERR_STATS_SECURE_SUM'))
  })

  it('fails with a refusing site\'s own error and tells the others to forget the session', async () => {
    // Prepare
    const inputs = inputsFor(5, 4, 15)
    const sites = makeSites(inputs)
    sites.set(site(3), new SecureSumSite({
      compute: async () => { throw new PlexusError('PLX_ERR_STATS_DISCLOSURE', ['subset of 2 rows is below nfilter.subset = 3']) },
      signer: signerOf(site(3))
    }))
    // Execute, Assert
    await assert.rejects(runSecureSum({ session: 'q', sites: [...sites.keys()], length: 4, query: null, call: network(sites).call, deadlineMs: 10_000 }),
      (err: unknown) => {
        assert.ok(isPlexusError(err, 'PLX_ERR_STATS_DISCLOSURE'), String(err))
        assert.equal(err.statusCode, 403)
        assert.ok(err.message.includes(`'${site(3)}'`) && err.message.includes('subset of 2 rows is below nfilter.subset = 3'), err.message)
        return true
      })
    for (const [id, site] of sites) assert.equal(site.openSessions, 0, id)
  })

  it('turns other site failures into refusals without leaking their details', async () => {
    const cases: Array<{ compute: () => Promise<Float64Array>, code: ErrorCode, mentions: string[], absent?: string }> = [
      { compute: async () => { throw new Error('SQLITE_ERROR near patient_name') }, code: 'PLX_ERR_INTERNAL', mentions: [site(2), 'could not compute'], absent: 'patient_name' },
      { compute: async () => Float64Array.of(1, NaN), code: 'PLX_ERR_STATS_SECURE_INPUT', mentions: [site(2), 'value 1', 'not a finite number'] },
      { compute: async () => Float64Array.of(1), code: 'PLX_ERR_STATS_SECURE_INPUT', mentions: ['1 values, 2 expected'] },
      { compute: async () => { throw new PlexusError('PLX_ERR_AUTH_INVALID') }, code: 'PLX_ERR_STATS_SECURE_SUM', mentions: ['PLX_ERR_AUTH_INVALID'] }
    ]
    for (const c of cases) {
      const sites = makeSites(new Map(siteIds(3).map(id => [id, Float64Array.of(1, 2)])))
      sites.set(site(2), new SecureSumSite({ compute: c.compute, signer: signerOf(site(2)) }))
      await assert.rejects(runSecureSum({ session: 'q', sites: siteIds(3), length: 2, query: null, call: network(sites).call, deadlineMs: 10_000 }), (err: unknown) => {
        isCode(c.code, ...c.mentions)(err)
        if (c.absent != null) assert.ok(!(err as Error).message.includes(c.absent))
        return true
      })
    }
  })

  it('over a transport that keeps error codes, treats a thrown refusal at open as a refusal and a protocol error as a dropout', async () => {
    const inputs = inputsFor(4, 4, 20)
    // A node that turns the analyst away before its SecureSumSite sees the query.
    const net = network(makeSites(inputs), () => false, true)
    const guarded: SecureSumCall = async (peer, message, timeoutMs) => {
      if (peer === site(1)) throw new PlexusError('PLX_ERR_STATS_DISCLOSURE', ['this analyst has used up its query budget'])
      return await net.call(peer, message, timeoutMs)
    }
    await assert.rejects(runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 4, query: null, call: guarded, deadlineMs: 10_000 }),
      isCode('PLX_ERR_STATS_DISCLOSURE', `'${site(1)}'`, 'query budget'))
    // A site that refuses a malformed open (PLX_ERR_STATS_SECURE_MESSAGE, thrown) drops out instead.
    const other = network(makeSites(inputs), () => false, true)
    const garbled: SecureSumCall = async (peer, message, timeoutMs) =>
      await other.call(peer, peer === site(2) && (message as { step?: string }).step === 'open' ? { ...message, limbs: 99 } : message, timeoutMs)
    const result = await runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 4, query: null, call: garbled, deadlineMs: 10_000 })
    assertExact(result, inputs, [site(0), site(1), site(3)])
  })

  it('never shows the analyst a site\'s encoded vector: only masked ones', async () => {
    // Prepare
    const inputs = inputsFor(5, 50, 16)
    const net = network(makeSites(inputs))
    // Execute
    const result = await runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 50, query: null, call: net.call, deadlineMs: 10_000 })
    // Assert
    assertExact(result, inputs, [...inputs.keys()])
    const masked = net.replies.filter(r => r.step === 'mask')
    assert.equal(masked.length, 5)
    for (const { peer, reply } of masked) {
      assert.deepEqual(Object.keys(reply).sort(), ['secagg', 'session', 'step', 'type'])
      const secagg = reply.secagg as { type: string, vector: string }
      assert.equal(secagg.type, 'secagg/masked-input')
      const words = new Uint32Array(new Uint8Array(Buffer.from(secagg.vector, 'base64url')).buffer)
      const encoded = new Float32Array(2 + 50 * ENC.limbs)
      encoded[1] = 1
      encodeFixedPoint(inputs.get(peer)!, ENC, encoded, 2)
      const plain = new Uint32Array(Int32Array.from(encoded).buffer)
      assert.equal(words.length, plain.length)
      let same = 0
      for (let k = 0; k < words.length; k++) if (words[k] === plain[k]) same++
      assert.ok(same <= 2, `${peer}: ${same} of ${words.length} masked coordinates equal the encoded input`)
    }
    // No other reply carries anything vector-sized.
    for (const { step, reply } of net.replies.filter(r => r.step !== 'mask')) {
      assert.ok(JSON.stringify(reply).length < 2000, `${step} reply is small`)
    }
  })

  it('keeps every message within maxSecureSumMessageBytes', async () => {
    const inputs = inputsFor(4, 300, 19)
    const bound = maxSecureSumMessageBytes(300, 4)
    let largest = 0
    const net = network(makeSites(inputs))
    const call: SecureSumCall = async (peer, message, timeoutMs) => {
      const reply = await net.call(peer, message, timeoutMs)
      largest = Math.max(largest, JSON.stringify(message).length, JSON.stringify(reply).length)
      return reply
    }
    await runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 300, query: { where: 'x'.repeat(1000) }, call, deadlineMs: 10_000 })
    assert.ok(largest > 300 * ENC.limbs * 4, 'the masked vector was measured')
    assert.ok(largest <= bound, `${largest} > ${bound}`)
    // With a 4 MiB frame, about 65,000 values fit.
    assert.ok(maxSecureSumMessageBytes(65_000, 100) <= 4 * 1024 * 1024)
    assert.ok(maxSecureSumMessageBytes(70_000, 100) > 4 * 1024 * 1024)
  })

  it('drops a site that sends a garbage masked input and still sums the others', async () => {
    const inputs = inputsFor(4, 8, 17)
    const net = network(makeSites(inputs))
    const call: SecureSumCall = async (peer, message, timeoutMs) => {
      const reply = await net.call(peer, message, timeoutMs)
      if (peer === site(2) && reply.step === 'mask') return { ...reply, secagg: { ...(reply.secagg as object), vector: 'not base64!' } }
      return reply
    }
    const result = await runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 8, query: null, call, deadlineMs: 10_000 })
    assertExact(result, inputs, [site(0), site(1), site(3)])
  })

  it('refuses bad parameters before calling anyone', async () => {
    let calls = 0
    const call: SecureSumCall = async () => { calls++; return {} }
    const base = { session: 'q', sites: siteIds(3), length: 2, query: null, call, deadlineMs: 1000 }
    await assert.rejects(runSecureSum({ ...base, sites: siteIds(2) }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'needs 3'))
    await assert.rejects(runSecureSum({ ...base, sites: ['a', 'b', 'a'] }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'distinct'))
    await assert.rejects(runSecureSum({ ...base, length: 0 }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'length'))
    await assert.rejects(runSecureSum({ ...base, deadlineMs: 0 }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'deadlineMs'))
    await assert.rejects(runSecureSum({ ...base, encoding: { limbs: 99 } }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'limbs'))
    await assert.rejects(runSecureSum({ ...base, query: 'x'.repeat(MAX_QUERY_BYTES) }), isCode('PLX_ERR_STATS_SECURE_INPUT', 'query'))
    assert.equal(calls, 0)
  })

  it('fails when fewer than 3 sites answer at all', async () => {
    const inputs = inputsFor(4, 2, 18)
    const net = network(makeSites(inputs), p => p !== site(0) && p !== site(1))
    await assert.rejects(runSecureSum({ session: 'q', sites: [...inputs.keys()], length: 2, query: null, call: net.call, deadlineMs: 10_000 }),
      isCode('PLX_ERR_STATS_SECURE_SUM', '2 clients advertised keys, 3 needed'))
  })
})

describe('SecureSumSite', () => {
  const ME = signerOf(site(11))
  const open = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: SECURE_SUM_TYPE, step: 'open', session: 's1', site: ME.peerId, sites: 3, length: 2, threshold: 2 / 3, fractionBits: 64, limbs: 12, query: null, ...extra
  })
  const newSite = (o: Partial<ConstructorParameters<typeof SecureSumSite>[0]> = {}): SecureSumSite =>
    new SecureSumSite({ compute: async () => Float64Array.of(1, 2), signer: ME, ...o })

  it('recognises its messages', () => {
    const site = newSite()
    assert.ok(site.isSecureSumMessage(open()))
    assert.ok(!site.isSecureSumMessage({ type: 'secagg-advertise' }))
    assert.ok(!site.isSecureSumMessage(null))
    assert.ok(!site.isSecureSumMessage('stats.secure'))
  })

  it('rejects malformed messages with a clear error', async () => {
    const site = newSite()
    const bad: Array<[unknown, string]> = [
      [null, 'expected object'],
      ['stats.secure', 'expected object'],
      [{ ...open(), type: 'other' }, 'type'],
      [{ ...open(), step: 'fly' }, 'step'],
      [{ ...open(), extra: 1 }, 'extra'],
      [open({ session: 'x'.repeat(200) }), 'session'],
      [open({ session: 7 }), 'session'],
      [open({ length: MAX_VALUES + 1 }), 'length'],
      [open({ length: 2.5 }), 'length'],
      [open({ sites: 2 }), 'sites'],
      [open({ threshold: 0.4 }), 'threshold'],
      [open({ limbs: 100 }), 'limbs'],
      [open({ fractionBits: 5000 }), 'fractionBits'],
      [open({ site: '' }), 'site'],
      [open({ query: 'x'.repeat(MAX_QUERY_BYTES) }), 'query'],
      [{ type: SECURE_SUM_TYPE, step: 'share', session: 'nope', secagg: {} }, 'no open session']
    ]
    for (const [message, mention] of bad) {
      await assert.rejects(site.handle('analyst', message), isCode('PLX_ERR_STATS_SECURE_MESSAGE', mention), JSON.stringify(message)?.slice(0, 80))
    }
    assert.equal(site.openSessions, 0)
  })

  it('answers only the analyst that opened a session, once, and refuses a bad secagg message by ending it', async () => {
    const site = newSite()
    const reply = await site.handle('alice', open())
    assert.equal(reply.step, 'open')
    assert.equal((reply.secagg as { type: string, client: string }).type, 'secagg/advertise-keys')
    assert.equal((reply.secagg as { client: string }).client, ME.peerId)
    assert.ok(isAttested(reply.secagg, reply.keySignature), 'the site signs its keys with its node key')
    await assert.rejects(site.handle('alice', open()), isCode('PLX_ERR_STATS_SECURE_MESSAGE', 'already open'))
    await assert.rejects(site.handle('mallory', { type: SECURE_SUM_TYPE, step: 'share', session: 's1', secagg: {} }), isCode('PLX_ERR_STATS_SECURE_MESSAGE', 'no open session'))
    await assert.rejects(site.handle('alice', { type: SECURE_SUM_TYPE, step: 'mask', session: 's1', secagg: {} }), isCode('PLX_ERR_SECAGG_STATE'))
    assert.equal(site.openSessions, 0, 'a failed step ends the session')
    await site.handle('alice', open())
    await assert.rejects(site.handle('alice', { type: SECURE_SUM_TYPE, step: 'share', session: 's1', secagg: { type: 'secagg/roster', clients: 'x' } }), isCode('PLX_ERR_STATS_SECURE_MESSAGE', 'malformed roster'))
    assert.equal(site.openSessions, 0)
    // Another analyst may use the same session name: sessions are per analyst.
    await site.handle('alice', open())
    await site.handle('bob', open())
    assert.equal(site.openSessions, 2)
    assert.deepEqual(await site.handle('bob', { type: SECURE_SUM_TYPE, step: 'abort', session: 's1' }), { type: SECURE_SUM_TYPE, step: 'abort', session: 's1' })
    assert.equal(site.openSessions, 1)
  })

  it('bounds open sessions and expires them', async () => {
    let now = 1_000
    const site = newSite({ maxSessions: 2, sessionTtlMs: 60_000, now: () => now })
    await site.handle('a', open({ session: 'x' }))
    await site.handle('a', open({ session: 'y' }))
    await assert.rejects(site.handle('a', open({ session: 'z' })), isCode('PLX_ERR_STATS_SECURE_MESSAGE', '2 secure sessions open'))
    now += 60_000
    assert.equal(site.openSessions, 0)
    await assert.rejects(site.handle('a', { type: SECURE_SUM_TYPE, step: 'share', session: 'x', secagg: {} }), isCode('PLX_ERR_STATS_SECURE_MESSAGE', 'no open session'))
    await site.handle('a', open({ session: 'z' }))
    assert.equal(site.openSessions, 1)
    assert.throws(() => newSite({ maxSessions: 0 }), isCode('PLX_ERR_STATS_CONFIG_INVALID'))
    assert.throws(() => newSite({ sessionTtlMs: -1 }), isCode('PLX_ERR_STATS_CONFIG_INVALID'))
  })

  it('refuses a second open while the first is still computing, and drops a session that expires meanwhile', async () => {
    let now = 0
    let release: (() => void) | undefined
    const site = newSite({
      sessionTtlMs: 1000,
      now: () => now,
      compute: async () => { await new Promise<void>(resolve => { release = resolve }); return Float64Array.of(1, 2) }
    })
    const first = site.handle('a', open())
    await new Promise(resolve => setImmediate(resolve))
    await assert.rejects(site.handle('a', open()), isCode('PLX_ERR_STATS_SECURE_MESSAGE', 'already open'))
    await assert.rejects(site.handle('a', { type: SECURE_SUM_TYPE, step: 'share', session: 's1', secagg: {} }), isCode('PLX_ERR_STATS_SECURE_MESSAGE', 'still computing'))
    now = 5000
    assert.equal(site.openSessions, 0)
    release!()
    await assert.rejects(first, isCode('PLX_ERR_STATS_SECURE_MESSAGE', 'ended while the site computed'))
  })
})

describe('secure sums: keys signed by the sites', () => {
  it('a site answers only as itself', async () => {
    const site0 = makeSites(new Map([[site(0), Float64Array.of(1)]])).get(site(0))!
    const open = { type: SECURE_SUM_TYPE, step: 'open', session: 's', site: site(1), sites: 3, length: 1, threshold: 2 / 3, fractionBits: 64, limbs: 12, query: null }
    await assert.rejects(site0.handle('analyst', open), isCode('PLX_ERR_STATS_SECURE_MESSAGE', `this site is ${site(0)}`))
  })

  it('an analyst that swaps a site\'s keys for its own gets nothing: every site refuses to share', async () => {
    // Arrange: the analyst relays the roster with site 1's keys replaced by keys it made itself.
    const inputs = inputsFor(4, 8, 21)
    const net = network(makeSites(inputs), () => false, true)
    const mine = new SecAggClient(secureSumConfig('q', 8, 4, 2 / 3, fixedPointEncoding()), site(1)).advertiseKeys()
    const refusedBy: string[] = []
    const mitm: SecureSumCall = async (peer, message, timeoutMs) => {
      const m = message as { step?: string, secagg?: { clients?: Array<{ client: string }> } }
      if (m.step !== 'share') return await net.call(peer, message, timeoutMs)
      const clients = m.secagg?.clients?.map(e => e.client === site(1) ? { ...e, cPublicKey: mine.cPublicKey, sPublicKey: mine.sPublicKey } : e)
      try {
        return await net.call(peer, { ...message, secagg: { ...m.secagg, clients } }, timeoutMs)
      } catch (err) {
        if (isPlexusError(err, 'PLX_ERR_STATS_SECURE_MESSAGE') && err.message.includes(`keys for '${site(1)}' that it did not sign`)) refusedBy.push(peer)
        throw err
      }
    }
    // Act + Assert
    await assert.rejects(runSecureSum({ session: 'q', sites: siteIds(4), length: 8, query: null, call: mitm, deadlineMs: 10_000 }), isCode('PLX_ERR_STATS_SECURE_SUM'))
    assert.deepEqual(refusedBy.sort(), siteIds(4).sort(), 'every site saw the forged key and refused')
  })

  it('the analyst leaves out a site whose keys come without its signature', async () => {
    const inputs = inputsFor(4, 8, 22)
    const net = network(makeSites(inputs))
    const unsigned: SecureSumCall = async (peer, message, timeoutMs) => {
      const reply = await net.call(peer, message, timeoutMs)
      return peer === site(2) && reply.step === 'open' ? { ...reply, keySignature: undefined } : reply
    }
    const result = await runSecureSum({ session: 'q', sites: siteIds(4), length: 8, query: null, call: unsigned, deadlineMs: 10_000 })
    assertExact(result, inputs, [site(0), site(1), site(3)])
  })
})

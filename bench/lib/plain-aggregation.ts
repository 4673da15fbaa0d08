/**
 * The baseline for secure aggregation: plain aggregation as a coordinator would do it without it.
 * Each client sends its float32 vector as one JSON message (bytes as base64url, like the secure
 * messages); the coordinator parses and validates it (zod: type, session, client id, exact
 * length; finite values) and adds it into a float64 sum. Timed and counted like
 * `runSecAggRound` (src/federated/secagg/simulate.ts): per client, and for the coordinator.
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks'
import { z } from 'zod'

export interface PlainReport {
  sum: Float32Array
  /** Milliseconds each client spent serialising its message. */
  clientMs: number[]
  /** Milliseconds the coordinator spent parsing, validating and summing. */
  serverMs: number
  bytesUp: number
}

/**
 * Aggregates `inputs` the plain way.
 *
 * @param session - a name carried in every message (as in the secure messages)
 * @param clock - milliseconds (as for `runSecAggRound`)
 */
export function runPlainAggregation (session: string, inputs: ReadonlyMap<string, Float32Array>, length: number, clock: () => number = () => performance.now()): PlainReport {
  const chars = Math.ceil(length * 4 * 4 / 3)
  const Schema = z.strictObject({
    type: z.literal('plain/update'),
    session: z.literal(session),
    client: z.string().min(1).max(200),
    vector: z.string().length(chars)
  })
  const acc = new Float64Array(length)
  const clientMs: number[] = []
  let serverMs = 0
  let bytesUp = 0
  for (const [client, x] of inputs) {
    let t0 = clock()
    const json = JSON.stringify({ type: 'plain/update', session, client, vector: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64url') })
    clientMs.push(clock() - t0)
    bytesUp += Buffer.byteLength(json)

    t0 = clock()
    const parsed = Schema.safeParse(JSON.parse(json))
    if (!parsed.success) throw new Error(`refused ${client}`)
    let bytes = Buffer.from(parsed.data.vector, 'base64url')
    if (bytes.length !== length * 4) throw new Error(`refused ${client}: wrong length`)
    if ((bytes.byteOffset & 3) !== 0) bytes = Buffer.from(bytes)
    const v = new Float32Array(bytes.buffer, bytes.byteOffset, length)
    for (let i = 0; i < length; i++) {
      const value = v[i]!
      if (value - value !== 0) throw new Error(`refused ${client}: coordinate ${i} is not finite`)
      acc[i] = acc[i]! + value
    }
    serverMs += clock() - t0
  }
  const t0 = clock()
  const sum = Float32Array.from(acc)
  serverMs += clock() - t0
  return { sum, clientMs, serverMs, bytesUp }
}

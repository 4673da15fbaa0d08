import { encodeFrame } from '../../src/p2p/framing.js'
import { InferRequestSchema, MAX_INFER_FRAME_BYTES, ServerFrameSchema } from '../../src/p2p/infer-protocol.js'

/** CPU cost of one operation of the per-token path, microseconds (median of 5 timed loops). */
export interface FrameCost {
  op: string
  us: number
}

function timeIt (iterations: number, fn: () => void): number {
  for (let i = 0; i < Math.min(iterations, 2000); i++) fn()
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    for (let i = 0; i < iterations; i++) fn()
    runs.push((performance.now() - t0) * 1000 / iterations)
  }
  return runs.sort((a, b) => a - b)[2]!
}

/**
 * Measures the JavaScript each token (or frame) costs on the community path: encoding a tokens
 * frame (server), decoding and schema-checking it (requester), and the SSE event the requester
 * then writes, next to the request frame's own check.
 *
 * @param iterations - operations per timed loop
 */
export function measureFrameCosts (iterations = 20_000): FrameCost[] {
  const sink: unknown[] = []
  const frame = (n: number): { type: 'tokens', ids: number[], text: string } =>
    ({ type: 'tokens', ids: Array.from({ length: n }, (_, i) => 300 + i * 7), text: ' the little'.repeat(Math.max(1, n / 2)).slice(0, n * 4) })
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const out: FrameCost[] = []
  for (const n of [1, 8]) {
    const f = frame(n)
    const bytes = encodeFrame(f, MAX_INFER_FRAME_BYTES)
    out.push({ op: `encode tokens frame (${n} token${n > 1 ? 's' : ''}, ${bytes.byteLength} B)`, us: timeIt(iterations, () => { sink[0] = encodeFrame(f, MAX_INFER_FRAME_BYTES) }) })
    const body = bytes.subarray(4)
    out.push({ op: `JSON.parse tokens frame (${n})`, us: timeIt(iterations, () => { sink[0] = JSON.parse(decoder.decode(body)) }) })
    const parsed = JSON.parse(decoder.decode(body)) as unknown
    out.push({ op: `ServerFrameSchema.safeParse (${n})`, us: timeIt(iterations, () => { sink[0] = ServerFrameSchema.safeParse(parsed) }) })
  }
  const created = Math.floor(Date.now() / 1000)
  out.push({
    op: 'SSE event for one text chunk (JSON.stringify)',
    us: timeIt(iterations, () => {
      sink[0] = `data: ${JSON.stringify({ id: 'cmpl-abcdefghijklmnop', object: 'text_completion', created, model: 'stories260K', system_fingerprint: 'fp_plexus', choices: [{ index: 0, text: ' little', logprobs: null, finish_reason: null }] })}\n\n`
    })
  })
  const request = { type: 'request', id: 'abcdefghijkl', network: 'plexus', model: 'stories260K', sha256: 'a'.repeat(64), prompt: 'Once upon a time', maxTokens: 256, sampling: { temperature: 0.8, seed: 42 } }
  out.push({ op: 'InferRequestSchema.safeParse (request frame)', us: timeIt(iterations, () => { sink[0] = InferRequestSchema.safeParse(request) }) })
  return out
}

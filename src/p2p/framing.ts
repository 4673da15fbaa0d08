/**
 * Length-prefixed JSON frames over a libp2p stream: a 4-byte big-endian length, then that many
 * bytes of UTF-8 JSON. The length is checked against a hard limit before anything is buffered,
 * so a peer cannot make us hold more than one frame's worth of memory.
 *
 * @packageDocumentation
 */
import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'

export class FrameError extends Error {
  readonly reason: 'too-large' | 'malformed' | 'truncated'
  constructor (reason: FrameError['reason'], message: string) {
    super(message)
    this.name = 'FrameError'
    this.reason = reason
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeFrame (value: unknown, maxBytes: number): Uint8Array {
  const body = encoder.encode(JSON.stringify(value))
  if (body.length > maxBytes) throw new FrameError('too-large', `frame of ${body.length} bytes exceeds the limit of ${maxBytes}`)
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(body, 4)
  return out
}

/**
 * Sends one frame, waiting for the stream to drain when its write buffer is full (backpressure).
 * Returns the number of bytes written.
 */
export async function sendFrame (stream: Stream, value: unknown, maxBytes: number, signal?: AbortSignal): Promise<number> {
  const bytes = encodeFrame(value, maxBytes)
  if (!stream.send(bytes)) await stream.onDrain({ signal })
  return bytes.length
}

/**
 * Reads frames from a stream until it ends. Throws `FrameError` on an oversized frame, invalid
 * UTF-8/JSON, or a stream that ends inside a frame. `onBytes` counts what was received.
 */
export async function * readFrames (source: AsyncIterable<Uint8Array | Uint8ArrayList>, maxBytes: number, onBytes?: (n: number) => void): AsyncGenerator<unknown> {
  const buffer = new Uint8ArrayList()
  let need = -1
  for await (const chunk of source) {
    buffer.append(chunk)
    onBytes?.(chunk.byteLength)
    while (true) {
      if (need < 0) {
        if (buffer.byteLength < 4) break
        need = buffer.getUint32(0)
        if (need > maxBytes) throw new FrameError('too-large', `peer sent a frame of ${need} bytes; the limit is ${maxBytes}`)
        buffer.consume(4)
      }
      if (buffer.byteLength < need) break
      const body = buffer.subarray(0, need)
      buffer.consume(need)
      need = -1
      let value: unknown
      try {
        value = JSON.parse(decoder.decode(body))
      } catch (err) {
        throw new FrameError('malformed', `peer sent a frame that is not UTF-8 JSON: ${(err as Error).message}`)
      }
      yield value
    }
  }
  if (need >= 0 || buffer.byteLength > 0) throw new FrameError('truncated', 'stream ended inside a frame')
}

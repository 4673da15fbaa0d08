/**
 * `/plexus/fl/1.0.0`: request/response calls between a coordinator and its participants, one
 * stream per call. A message is JSON (vectors as base64 float32) cut into frames of at most
 * `CHUNK_BYTES`; the whole message is bounded by `MAX_MESSAGE_BYTES`. The caller's identity is the
 * Noise-authenticated peer id.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { PlexusError, isPlexusError } from '../errors.js'
import { readFrames, sendFrame } from '../p2p/framing.js'

export const FL_PROTOCOL = '/plexus/fl/1.0.0'
const CHUNK_BYTES = 256 * 1024
/** Largest message either way (a model's weights must fit). */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024
const FRAME_LIMIT = CHUNK_BYTES + 1024

const ChunkSchema = z.strictObject({ i: z.number().int().min(0), n: z.number().int().min(1).max(Math.ceil(MAX_MESSAGE_BYTES / CHUNK_BYTES)), data: z.string().max(CHUNK_BYTES) })

export function encodeVector (v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')
}

/** Decodes a base64 float32 vector, checking its length; non-finite values are refused. */
export function decodeVector (s: string, expectedLength: number, what: string): Float32Array {
  const buf = Buffer.from(s, 'base64')
  if (buf.length !== expectedLength * 4) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`${what} has ${buf.length / 4} values, expected ${expectedLength}`])
  const out = new Float32Array(expectedLength)
  new Uint8Array(out.buffer).set(buf)
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`${what} has a non-finite value at ${i}`])
  }
  return out
}

async function writeMessage (stream: Stream, value: unknown, traffic?: FlTraffic): Promise<number> {
  const text = JSON.stringify(value)
  traffic?.onSend?.(text)
  if (text.length > MAX_MESSAGE_BYTES) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`message of ${text.length} bytes exceeds ${MAX_MESSAGE_BYTES}`])
  const n = Math.max(1, Math.ceil(text.length / CHUNK_BYTES))
  let bytes = 0
  for (let i = 0; i < n; i++) bytes += await sendFrame(stream, { i, n, data: text.slice(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES) }, FRAME_LIMIT)
  return bytes
}

async function readMessage (frames: AsyncIterator<unknown>): Promise<unknown> {
  const parts: string[] = []
  let total = -1
  while (total < 0 || parts.length < total) {
    const next = await frames.next()
    if (next.done === true) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['stream ended inside a message'])
    const c = ChunkSchema.safeParse(next.value)
    if (!c.success || c.data.i !== parts.length || (total >= 0 && c.data.n !== total)) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed message chunk'])
    total = c.data.n
    parts.push(c.data.data)
  }
  try {
    return JSON.parse(parts.join(''))
  } catch {
    throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['message is not JSON'])
  }
}

const ReplySchema = z.union([
  z.object({ ok: z.literal(true) }).passthrough(),
  z.strictObject({ ok: z.literal(false), code: z.string().max(64), message: z.string().max(4000) })
])

export interface FlTraffic {
  bytesOut: number
  bytesIn: number
  /** Sees every message this node sends (for audits and tests). */
  onSend?: (json: string) => void
}

/** Calls a peer: sends one message, returns its reply (or throws the peer's error). */
export async function flCall (
  dial: (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>,
  peer: PeerId,
  message: object,
  options: { timeoutMs: number, signal?: AbortSignal, traffic?: FlTraffic }
): Promise<Record<string, unknown>> {
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), ...(options.signal != null ? [options.signal] : [])])
  let stream: Stream | null = null
  const onAbort = (): void => stream?.abort(new Error('timed out'))
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    stream = await dial(peer, FL_PROTOCOL, { signal })
    const sent = await writeMessage(stream, message, options.traffic)
    if (options.traffic != null) options.traffic.bytesOut += sent
    const frames = readFrames(stream, FRAME_LIMIT, n => { if (options.traffic != null) options.traffic.bytesIn += n })[Symbol.asyncIterator]()
    const raw = await readMessage(frames)
    await stream.close({ signal: AbortSignal.timeout(2_000) }).catch(() => stream?.abort(new Error('close timed out')))
    const reply = ReplySchema.safeParse(raw)
    if (!reply.success) throw new PlexusError('PLX_ERR_FL_PROTOCOL', ['malformed reply'])
    if (reply.data.ok === false) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`peer refused: ${reply.data.code}: ${reply.data.message}`])
    return reply.data
  } catch (err) {
    stream?.abort(err as Error)
    if (signal.aborted) throw new PlexusError('PLX_ERR_FL_PROTOCOL', [`no reply within ${options.timeoutMs} ms`])
    if (isPlexusError(err)) throw err
    throw new PlexusError('PLX_ERR_FL_PROTOCOL', [(err as Error).message])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** Serves calls: `handler` gets the caller's peer id and the parsed message and returns the reply. */
export function flHandler (
  handler: (peer: string, message: unknown) => Promise<Record<string, unknown>>,
  traffic?: FlTraffic,
  /** Told how many bytes the reply to each message took (per-job accounting). */
  onReplied?: (message: unknown, bytes: number) => void
): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream, connection) => {
    const peer = connection.remotePeer.toString()
    try {
      const frames = readFrames(stream, FRAME_LIMIT, n => { if (traffic != null) traffic.bytesIn += n })[Symbol.asyncIterator]()
      const message = await readMessage(frames)
      let reply: Record<string, unknown>
      try {
        reply = { ok: true, ...await handler(peer, message) }
      } catch (err) {
        reply = isPlexusError(err) ? { ok: false, code: err.code, message: err.message.slice(0, 4000) } : { ok: false, code: 'PLX_ERR_INTERNAL', message: String((err as Error).message).slice(0, 4000) }
      }
      const sent = await writeMessage(stream, reply, traffic)
      if (traffic != null) traffic.bytesOut += sent
      onReplied?.(message, sent)
      await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => stream.abort(new Error('close timed out')))
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

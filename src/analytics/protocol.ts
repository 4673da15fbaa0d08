/**
 * `/plexus/stats/1.0.0`: one request frame and one reply frame per stream (4-byte length + JSON,
 * at most 4 MiB each way). The analyst's identity is the Noise-authenticated peer id of the
 * connection, never a field of the message.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { PlexusError, isPlexusError, plexusErrorFromWire } from '../errors.js'
import { readFrames, sendFrame } from '../p2p/framing.js'

export const STATS_PROTOCOL = '/plexus/stats/1.0.0'
export const MAX_STATS_FRAME = 4 * 1024 * 1024

const ReplySchema = z.union([
  z.object({ ok: z.literal(true) }).passthrough(),
  z.strictObject({ ok: z.literal(false), code: z.string().max(64), message: z.string().max(4000) })
])

/** Rebuilds a site's refusal as the PlexusError it was there (same code and sentence). */
function remoteError (code: string, message: string): PlexusError {
  return plexusErrorFromWire(code, message) ?? new PlexusError('PLX_ERR_STATS_PROTOCOL', [`${code}: ${message}`])
}

export async function statsCall (
  dial: (peer: PeerId, protocol: string, options: { signal: AbortSignal }) => Promise<Stream>,
  peer: PeerId,
  message: object,
  timeoutMs: number
): Promise<Record<string, unknown>> {
  const signal = AbortSignal.timeout(timeoutMs)
  let stream: Stream | null = null
  let reply: z.output<typeof ReplySchema>
  try {
    stream = await dial(peer, STATS_PROTOCOL, { signal })
    await sendFrame(stream, message, MAX_STATS_FRAME, signal)
    const frames = readFrames(stream, MAX_STATS_FRAME)[Symbol.asyncIterator]()
    const onAbort = (): void => stream?.abort(new Error('timed out'))
    signal.addEventListener('abort', onAbort, { once: true })
    const next = await frames.next().finally(() => signal.removeEventListener('abort', onAbort))
    if (next.done === true) throw new PlexusError('PLX_ERR_STATS_PROTOCOL', ['the site closed the stream without answering'])
    const parsed = ReplySchema.safeParse(next.value)
    if (!parsed.success) throw new PlexusError('PLX_ERR_STATS_PROTOCOL', ['malformed reply'])
    reply = parsed.data
    await stream.close({ signal: AbortSignal.timeout(2_000) }).catch(() => stream?.abort(new Error('close timed out')))
  } catch (err) {
    stream?.abort(err as Error)
    if (signal.aborted) throw new PlexusError('PLX_ERR_STATS_PROTOCOL', [`no answer within ${timeoutMs} ms`])
    if (isPlexusError(err)) throw err
    throw new PlexusError('PLX_ERR_STATS_PROTOCOL', [(err as Error).message])
  }
  if (reply.ok === false) throw remoteError(reply.code, reply.message)
  return reply
}

export function statsHandler (handler: (peer: string, message: unknown) => Promise<Record<string, unknown>>): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream, connection) => {
    try {
      const next = await readFrames(stream, MAX_STATS_FRAME)[Symbol.asyncIterator]().next()
      let reply: Record<string, unknown>
      if (next.done === true) return
      try {
        reply = { ok: true, ...await handler(connection.remotePeer.toString(), next.value) }
      } catch (err) {
        reply = isPlexusError(err) ? { ok: false, code: err.code, message: err.message.slice(0, 4000) } : { ok: false, code: 'PLX_ERR_INTERNAL', message: String((err as Error).message).slice(0, 4000) }
      }
      await sendFrame(stream, reply, MAX_STATS_FRAME)
      await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => stream.abort(new Error('close timed out')))
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

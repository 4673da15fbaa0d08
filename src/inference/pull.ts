import { createHash, type Hash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { releaseClaim, takeClaim } from '../claim.js'
import { PlexusError, isPlexusError } from '../errors.js'
import { readJsonFile, writeJsonAtomic } from '../node/json-file.js'

/**
 * Hex characters of sha256(url) that name a partial download. 128 bits: two URLs never share a
 * partial file by accident, and the name stays short.
 */
export const PULL_KEY_HEX_CHARS = 32

/**
 * Default ceiling on the size of one download. The largest GGUF files published today (405B
 * parameters at 8 bits) are about 430 GB; a server that promises more than 1 TiB is broken or hostile.
 */
export const DEFAULT_MAX_PULL_BYTES = 1024 ** 4

/**
 * How long a download may go without receiving a byte (headers included) before it is given up
 * and the partial file kept for the next attempt. Long enough for a slow CDN to start streaming.
 */
export const DEFAULT_PULL_IDLE_TIMEOUT_MS = 60_000

/** A pull claim older than this is stale even if a process with its id runs (ids are reused). */
const MAX_PULL_CLAIM_MS = 24 * 3_600_000

/** Read size when re-hashing the bytes of an existing partial file before resuming. */
const REHASH_CHUNK_BYTES = 1 << 20

/** Every GGUF file starts with the ASCII bytes "GGUF" (ggml `docs/gguf.md`, "magic number"). */
const GGUF_MAGIC = Buffer.from('GGUF', 'ascii')

/**
 * Fresh starts allowed within one call after the server answers a resume inconsistently (416 for
 * a file that is not complete, or a 206 for the wrong range). One is enough: the retry sends no
 * Range header, so the server cannot answer it the same way.
 */
const MAX_RESTARTS = 1

const SHA256_RE = /^[0-9a-f]{64}$/

/** Progress of a download, reported after the response headers arrive and after every chunk. */
export interface PullProgress {
  /** Bytes of the file on disk so far, resumed bytes included. */
  receivedBytes: number
  /** Size of the whole file, when the server said. */
  totalBytes: number | null
  /** Bytes that were already on disk from an earlier, interrupted pull (0 for a fresh download). */
  resumedFrom: number
}

export interface PullOptions {
  /** Directory for the partial file and the finished `<sha256>.gguf`; created if missing. */
  destDir: string
  /** Expected sha256 (64 hex characters). A mismatch deletes the download. */
  sha256?: string
  signal?: AbortSignal
  onProgress?: (p: PullProgress) => void
  /** Replaces the global `fetch` (tests, proxies). */
  fetchImpl?: typeof fetch
  /** Refuse files larger than this many bytes (default {@link DEFAULT_MAX_PULL_BYTES}). */
  maxBytes?: number
  /** Give up when no byte arrives for this long (default {@link DEFAULT_PULL_IDLE_TIMEOUT_MS}). */
  idleTimeoutMs?: number
}

export interface PullResult {
  /** `<destDir>/<sha256>.gguf`. */
  path: string
  /** Lowercase hex sha256 of the whole file. */
  sha256: string
  bytes: number
  /** Bytes reused from an earlier, interrupted pull of the same URL (0 when none). */
  resumedFrom: number
}

/** Saved beside the partial file so that a later pull can ask for the rest of the same entity. */
const PartialMetaSchema = z.object({
  url: z.string(),
  etag: z.string().nullable(),
  lastModified: z.string().nullable(),
  totalBytes: z.number().int().nonnegative().nullable()
})

type PartialMeta = z.output<typeof PartialMetaSchema>

/** Name of the partial download of `url` inside the destination directory (without extension). */
export function pullKey (url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, PULL_KEY_HEX_CHARS)
}

/**
 * Downloads a GGUF model over HTTP(S) into `destDir`, resumably.
 *
 * Bytes stream to `<destDir>/<key>.partial` (key: the first {@link PULL_KEY_HEX_CHARS} hex
 * characters of sha256(url)) and are hashed as they arrive; the server's ETag / Last-Modified go to
 * `<key>.partial.json`. If the connection drops or `signal` aborts, both files stay, and the next
 * pull of the same URL re-hashes the bytes on disk and asks for the rest with `Range` plus
 * `If-Range`. A server that answers 200 instead of 206 (no range support, or the file changed)
 * restarts the download from zero; a 416 for a partial that is already whole finishes it.
 *
 * When the download completes, the sha256 is checked against `options.sha256` (if given) and the
 * file must start with the GGUF magic; either failure deletes the partial file and its metadata.
 * On success the file is renamed to `<destDir>/<sha256>.gguf`.
 *
 * @throws PlexusError `PLX_ERR_PULL_FAILED` for a bad URL, an HTTP error status, a lost or stalled
 *   connection, a truncated body or a file over `maxBytes`; `PLX_ERR_PULL_HASH_MISMATCH`;
 *   `PLX_ERR_MODEL_INVALID_FILE` for a file that is not GGUF; `PLX_ERR_ABORTED` when `signal`
 *   aborts; `PLX_ERR_BAD_REQUEST` for a malformed `sha256` or `maxBytes`.
 *
 * @example
 * ```ts
 * const { path, sha256 } = await pullModel('https://example.org/model.gguf', { destDir, sha256: expected })
 * await registry.add(path, { store: 'move', sha256 })
 * ```
 */
export async function pullModel (url: string, options: PullOptions): Promise<PullResult> {
  const target = parsePullUrl(url)
  const shown = displayUrl(target)
  const expected = normalizeSha256(options.sha256)
  const maxBytes = positiveInteger(options.maxBytes ?? DEFAULT_MAX_PULL_BYTES, 'maxBytes')
  const idleTimeoutMs = positiveInteger(options.idleTimeoutMs ?? DEFAULT_PULL_IDLE_TIMEOUT_MS, 'idleTimeoutMs')
  const fetchImpl = options.fetchImpl ?? globalThis.fetch
  const userSignal = options.signal
  if (userSignal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED', [], { cause: userSignal.reason })

  mkdirSync(options.destDir, { recursive: true })
  const partialPath = join(options.destDir, `${pullKey(target.href)}.partial`)
  const metaPath = `${partialPath}.json`
  const discard = (): void => {
    rmSync(partialPath, { force: true })
    rmSync(metaPath, { force: true })
  }
  // One writer per partial file, across processes (a node and a CLI pulling the same URL into
  // one data directory): a claim beside it, cleared if its process has died.
  const claim = `${partialPath}.lock`
  let claimed: boolean
  try {
    claimed = takeClaim(claim, { maxAgeMs: MAX_PULL_CLAIM_MS })
  } catch (err) {
    throw new PlexusError('PLX_ERR_PULL_FAILED', [`cannot write in ${options.destDir}: ${(err as Error).message}`], { cause: err })
  }
  if (!claimed) throw new PlexusError('PLX_ERR_PULL_IN_PROGRESS', [shown])

  // One controller carries both the caller's abort and our idle timeout into fetch and the body.
  const controller = new AbortController()
  const onUserAbort = (): void => controller.abort(userSignal?.reason)
  userSignal?.addEventListener('abort', onUserAbort, { once: true })
  let stalled = false
  let idleTimer: NodeJS.Timeout | undefined
  const armIdleTimer = (): void => {
    clearTimeout(idleTimer)
    idleTimer = setTimeout(() => {
      stalled = true
      controller.abort(new Error('idle timeout'))
    }, idleTimeoutMs)
  }
  const transportError = (err: unknown, what: string): PlexusError => {
    if (isPlexusError(err)) return err
    if (userSignal?.aborted === true) return new PlexusError('PLX_ERR_ABORTED', [], { cause: err })
    if (stalled) {
      return new PlexusError('PLX_ERR_PULL_FAILED', [`${what}: no data from ${target.host} for ${idleTimeoutMs} ms; run the pull again to resume`], { cause: err })
    }
    return new PlexusError('PLX_ERR_PULL_FAILED', [`${what}: ${describeCause(err)}`], { cause: err })
  }

  try {
    let { offset, hash, meta } = await loadPartial(partialPath, metaPath, target.href, maxBytes, userSignal)
    if (offset === 0) discard()

    // Ask for the file (or its rest) until the reply is one we can use.
    let response: Response | null = null
    let complete = false
    for (let restarts = 0; ; restarts++) {
      const headers: Record<string, string> = { 'accept-encoding': 'identity' }
      if (offset > 0 && meta != null) {
        headers.range = `bytes=${offset}-`
        headers['if-range'] = ifRangeValidator(meta)!
      }
      armIdleTimer()
      let res: Response
      try {
        res = await fetchImpl(target.href, { headers, signal: controller.signal, redirect: 'follow' })
      } catch (err) {
        throw transportError(err, shown)
      }
      if (res.status === 200) { response = res; break }
      if (offset > 0 && res.status === 206) {
        const range = parseContentRange(res.headers.get('content-range'))
        if (range != null && range.start === offset &&
            (range.total == null || meta?.totalBytes == null || range.total === meta.totalBytes)) {
          response = res
          break
        }
      } else if (offset > 0 && res.status === 416) {
        const total = parseUnsatisfiedRange(res.headers.get('content-range')) ?? meta?.totalBytes ?? null
        if (total === offset) { complete = true }
      } else {
        await cancelBody(res)
        const why = res.status >= 200 && res.status < 300 ? 'unexpected status' : 'server answered'
        throw new PlexusError('PLX_ERR_PULL_FAILED', [`${shown}: ${why} HTTP ${res.status} ${res.statusText}`.trim()])
      }
      await cancelBody(res)
      if (complete) break
      if (restarts >= MAX_RESTARTS) {
        throw new PlexusError('PLX_ERR_PULL_FAILED', [`${shown}: the server answered a resumed download inconsistently (HTTP ${res.status})`])
      }
      // The partial bytes cannot be matched to what the server has now: start over.
      discard()
      offset = 0
      hash = createHash('sha256')
      meta = null
    }

    let resumedFrom = offset
    if (response != null) {
      let totalBytes: number | null
      let bodyLength: number | null
      if (response.status === 200) {
        // A full body: either a fresh download, or the server ignored Range / If-Range did not match.
        offset = 0
        resumedFrom = 0
        hash = createHash('sha256')
        const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity'
        bodyLength = encoded ? null : parseLength(response.headers.get('content-length'))
        totalBytes = bodyLength
        meta = {
          url: target.href,
          etag: response.headers.get('etag'),
          lastModified: response.headers.get('last-modified'),
          totalBytes
        }
        writeJsonAtomic(metaPath, meta, 0o644)
      } else {
        const range = parseContentRange(response.headers.get('content-range'))!
        bodyLength = range.end - range.start + 1
        totalBytes = range.total ?? meta?.totalBytes ?? null
        if (meta != null && meta.totalBytes !== totalBytes) {
          meta = { ...meta, totalBytes }
          writeJsonAtomic(metaPath, meta, 0o644)
        }
      }
      if (totalBytes != null && totalBytes > maxBytes) {
        await cancelBody(response)
        discard()
        throw new PlexusError('PLX_ERR_PULL_FAILED', [`${shown} is ${totalBytes} bytes, over the limit of ${maxBytes}`])
      }
      await streamBody({
        response,
        partialPath,
        append: offset > 0,
        offset,
        hash,
        bodyLength,
        totalBytes,
        maxBytes,
        resumedFrom,
        onProgress: options.onProgress,
        onChunk: armIdleTimer,
        signal: controller.signal,
        transportError: err => transportError(err, `${shown}: connection lost`),
        discard,
        shown
      })
    } else {
      options.onProgress?.({ receivedBytes: offset, totalBytes: offset, resumedFrom })
    }
    clearTimeout(idleTimer)

    // The whole file is on disk: check it, then give it its final name.
    const bytes = statSync(partialPath).size
    const actual = hash.digest('hex')
    if (expected != null && actual !== expected) {
      discard()
      throw new PlexusError('PLX_ERR_PULL_HASH_MISMATCH', [actual, expected])
    }
    if (!await hasGgufMagic(partialPath)) {
      discard()
      throw new PlexusError('PLX_ERR_MODEL_INVALID_FILE', [`${shown} does not start with the GGUF magic bytes`])
    }
    const path = join(options.destDir, `${actual}.gguf`)
    renameSync(partialPath, path)
    rmSync(metaPath, { force: true })
    return { path, sha256: actual, bytes, resumedFrom }
  } finally {
    clearTimeout(idleTimer)
    userSignal?.removeEventListener('abort', onUserAbort)
    releaseClaim(claim)
  }
}

interface StreamBodyInit {
  response: Response
  partialPath: string
  append: boolean
  /** Bytes already on disk (and in `hash`). */
  offset: number
  hash: Hash
  bodyLength: number | null
  totalBytes: number | null
  maxBytes: number
  resumedFrom: number
  onProgress: ((p: PullProgress) => void) | undefined
  onChunk: () => void
  /** Aborted by the caller's signal or the idle timeout. */
  signal: AbortSignal
  transportError: (err: unknown) => PlexusError
  discard: () => void
  shown: string
}

/** Appends the response body to the partial file, hashing it on the way. */
async function streamBody (init: StreamBodyInit): Promise<void> {
  const { response, hash, totalBytes, maxBytes, resumedFrom } = init
  let received = init.offset
  const report = (): void => init.onProgress?.({ receivedBytes: received, totalBytes, resumedFrom })
  const file = await open(init.partialPath, init.append ? 'a' : 'w', 0o644)
  const reader = response.body?.getReader()
  let done = reader == null
  // A fresh download is checked for the magic as soon as 4 bytes are in, so an HTML error page
  // served with status 200 is not downloaded in full.
  let head: Buffer | null = init.offset === 0 ? Buffer.alloc(0) : null
  try {
    report()
    while (!done) {
      let chunk: Uint8Array | undefined
      try {
        const r = await reader!.read()
        done = r.done
        chunk = r.value
      } catch (err) {
        throw init.transportError(err)
      }
      if (chunk == null || chunk.byteLength === 0) continue
      init.onChunk()
      received += chunk.byteLength
      if (received > maxBytes) {
        init.discard()
        throw new PlexusError('PLX_ERR_PULL_FAILED', [`${init.shown} sent more than the limit of ${maxBytes} bytes`])
      }
      hash.update(chunk)
      await writeAll(file, chunk)
      if (head != null) {
        head = Buffer.concat([head, chunk.subarray(0, GGUF_MAGIC.length - head.length)])
        if (head.length >= GGUF_MAGIC.length) {
          if (!head.equals(GGUF_MAGIC)) {
            init.discard()
            throw new PlexusError('PLX_ERR_MODEL_INVALID_FILE', [`${init.shown} does not start with the GGUF magic bytes`])
          }
          head = null
        }
      }
      report()
      // Chunks already buffered would still be read after an abort; stop at once instead.
      if (init.signal.aborted) throw init.transportError(init.signal.reason)
    }
  } finally {
    if (!done) await reader?.cancel().catch(() => {})
    await file.close()
  }
  const got = received - init.offset
  if (init.bodyLength != null && got !== init.bodyLength) {
    throw new PlexusError('PLX_ERR_PULL_FAILED', [`${init.shown}: the body ended after ${got} of ${init.bodyLength} bytes; run the pull again to resume`])
  }
}

/** FileHandle.write may write less than asked (a full disk, a signal); finish the job or fail. */
async function writeAll (file: FileHandle, chunk: Uint8Array): Promise<void> {
  let written = 0
  while (written < chunk.byteLength) {
    const { bytesWritten } = await file.write(chunk, written, chunk.byteLength - written)
    if (bytesWritten === 0) throw new Error('write returned 0 bytes')
    written += bytesWritten
  }
}

/**
 * Reads the partial download state: how many bytes to keep, their running hash, and the saved
 * validators. A partial file without usable metadata is worthless (we could not prove the server
 * still has the same file) and counts as nothing.
 */
async function loadPartial (partialPath: string, metaPath: string, url: string, maxBytes: number, signal: AbortSignal | undefined):
Promise<{ offset: number, hash: Hash, meta: PartialMeta | null }> {
  const hash = createHash('sha256')
  const none = { offset: 0, hash, meta: null }
  if (!existsSync(partialPath)) return none
  let meta: PartialMeta | null
  try {
    meta = readJsonFile(metaPath, PartialMetaSchema.nullable(), null)
  } catch {
    return none
  }
  if (meta == null || meta.url !== url || ifRangeValidator(meta) == null) return none
  const offset = statSync(partialPath).size
  if (offset === 0 || offset > maxBytes || (meta.totalBytes != null && offset > meta.totalBytes)) return none
  try {
    for await (const chunk of createReadStream(partialPath, { start: 0, end: offset - 1, highWaterMark: REHASH_CHUNK_BYTES, signal })) {
      hash.update(chunk as Buffer)
    }
  } catch (err) {
    if (signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED', [], { cause: err })
    throw err
  }
  return { offset, hash, meta }
}

/**
 * The value for `If-Range`: a strong ETag, else Last-Modified. RFC 9110 §13.1.5 forbids weak
 * ETags there; without any validator, a resume could splice two versions of a file together.
 */
function ifRangeValidator (meta: PartialMeta): string | null {
  if (meta.etag != null && !meta.etag.startsWith('W/')) return meta.etag
  return meta.lastModified
}

function parsePullUrl (url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new PlexusError('PLX_ERR_PULL_FAILED', [`'${url}' is not a valid URL`])
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new PlexusError('PLX_ERR_PULL_FAILED', [`only http:// and https:// URLs can be pulled, not ${parsed.protocol}//`])
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new PlexusError('PLX_ERR_PULL_FAILED', ['URLs with a user name or password are not supported'])
  }
  return parsed
}

/** The URL for messages: no query string, which often carries an access token. */
function displayUrl (url: URL): string {
  return `${url.origin}${url.pathname}`
}

function normalizeSha256 (sha256: string | undefined): string | null {
  if (sha256 == null) return null
  const s = sha256.trim().toLowerCase()
  if (!SHA256_RE.test(s)) {
    throw new PlexusError('PLX_ERR_BAD_REQUEST', [`sha256 must be 64 hexadecimal characters, got '${sha256}'`], { param: 'sha256' })
  }
  return s
}

function positiveInteger (n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new PlexusError('PLX_ERR_BAD_REQUEST', [`${name} must be a positive integer, got ${n}`], { param: name })
  }
  return n
}

function parseLength (value: string | null): number | null {
  if (value == null || !/^\d+$/.test(value.trim())) return null
  const n = Number(value.trim())
  return Number.isSafeInteger(n) ? n : null
}

/** `Content-Range: bytes 100-199/1000` (total may be `*`). */
function parseContentRange (value: string | null): { start: number, end: number, total: number | null } | null {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value?.trim() ?? '')
  if (m == null) return null
  const start = Number(m[1])
  const end = Number(m[2])
  const total = m[3] === '*' ? null : Number(m[3])
  if (end < start || (total != null && end >= total)) return null
  return { start, end, total }
}

/** `Content-Range: bytes *\/1000`, sent with 416. */
function parseUnsatisfiedRange (value: string | null): number | null {
  const m = /^bytes\s+\*\/(\d+)$/i.exec(value?.trim() ?? '')
  return m == null ? null : Number(m[1])
}

async function hasGgufMagic (path: string): Promise<boolean> {
  const file = await open(path, 'r')
  try {
    const buf = Buffer.alloc(GGUF_MAGIC.length)
    const { bytesRead } = await file.read(buf, 0, buf.length, 0)
    return bytesRead === buf.length && buf.equals(GGUF_MAGIC)
  } finally {
    await file.close()
  }
}

async function cancelBody (res: Response): Promise<void> {
  try { await res.body?.cancel() } catch {}
}

/** undici reports `fetch failed` / `terminated` with the socket error as the cause. */
function describeCause (err: unknown): string {
  const parts: string[] = []
  let e: unknown = err
  for (let depth = 0; e != null && depth < 4; depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code
      parts.push(typeof code === 'string' ? `${e.message} (${code})` : e.message)
      e = e.cause
    } else {
      parts.push(String(e))
      break
    }
  }
  return parts.length > 0 ? parts.join(': ') : 'unknown error'
}

/** Reading a file whole, with the size bound checked before and while reading. */
import { open, stat } from 'node:fs/promises'
import { IngestError } from './ingest-error.js'

/** The `too_large` error for a file over `maxBytes`. */
export function fileTooLarge (fileName: string, maxBytes: number): IngestError {
  return new IngestError('too_large', `${fileName} is larger than the limit of ${maxBytes.toLocaleString('en')} bytes.`)
}

/**
 * Read a regular file of at most `maxBytes` bytes. A file that is not regular is `unsupported`
 * (checked before opening: opening a FIFO blocks until a writer appears); one that is, or grows
 * while being read, larger than the limit is `too_large`.
 */
export async function readBounded (path: string, fileName: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  if (!(await stat(path)).isFile()) throw new IngestError('unsupported', `${fileName} is not a regular file.`)
  const handle = await open(path, 'r')
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new IngestError('unsupported', `${fileName} is not a regular file.`)
    if (info.size > maxBytes) throw fileTooLarge(fileName, maxBytes)
    // One byte past the limit, to notice a file that grew after the stat.
    const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1)
    let length = 0
    while (length < buffer.length) {
      signal?.throwIfAborted()
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length)
      if (bytesRead === 0) break
      length += bytesRead
    }
    if (length > maxBytes) throw fileTooLarge(fileName, maxBytes)
    return buffer.subarray(0, length)
  } finally {
    await handle.close()
  }
}

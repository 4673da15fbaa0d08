/** Content hash for change detection. */
import { sha256File } from '../../inference/hash.js'

/** Hex sha256 of a file's bytes, streamed; the cabinet service compares it to decide whether to re-ingest. */
export async function hashFile (path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  return await sha256File(path, options)
}

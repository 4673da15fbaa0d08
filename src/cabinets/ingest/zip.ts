/**
 * Reads a zip's central directory (no inflating) to list entry names and add up their
 * uncompressed sizes, so a .docx zip bomb is refused before anything is unzipped. Layout from
 * PKWARE's APPNOTE.TXT, sections 4.3.12 (central directory header) and 4.3.16 (end record).
 */

/** End of central directory record signature, "PK\x05\x06". */
const EOCD_SIGNATURE = 0x06054b50
/** Central directory file header signature, "PK\x01\x02". */
const CDH_SIGNATURE = 0x02014b50
/** Fixed part of the end record; a trailing comment of up to 65,535 bytes may follow it. */
const EOCD_SIZE = 22
const MAX_COMMENT = 0xFFFF
/** Fixed part of a central directory header, before its name, extra field and comment. */
const CDH_SIZE = 46
/** A 32-bit size of all ones means the real size is in a Zip64 extra field. */
const ZIP64_MARK = 0xFFFFFFFF

/** What the central directory says. */
export interface ZipDirectory {
  names: string[]
  /** Sum of uncompressed sizes; Infinity when an entry needs Zip64 (over 4 GiB). */
  uncompressedBytes: number
}

/**
 * Read the central directory of a zip held in memory. Returns null when the bytes are not a
 * well-formed zip (no end record, or entries running past the end).
 */
export function readZipDirectory (bytes: Buffer, maxEntries: number): ZipDirectory | null {
  const eocd = findEndRecord(bytes)
  if (eocd === -1) return null
  const count = bytes.readUInt16LE(eocd + 10)
  const offset = bytes.readUInt32LE(eocd + 16)
  if (count > maxEntries) return { names: [], uncompressedBytes: Infinity }
  const names: string[] = []
  let uncompressedBytes = 0
  let at = offset
  for (let i = 0; i < count; i++) {
    if (at + CDH_SIZE > bytes.length || bytes.readUInt32LE(at) !== CDH_SIGNATURE) return null
    const size = bytes.readUInt32LE(at + 24)
    const nameLength = bytes.readUInt16LE(at + 28)
    const extraLength = bytes.readUInt16LE(at + 30)
    const commentLength = bytes.readUInt16LE(at + 32)
    if (at + CDH_SIZE + nameLength > bytes.length) return null
    names.push(bytes.toString('utf8', at + CDH_SIZE, at + CDH_SIZE + nameLength))
    uncompressedBytes += size === ZIP64_MARK ? Infinity : size
    at += CDH_SIZE + nameLength + extraLength + commentLength
  }
  return { names, uncompressedBytes }
}

/** Offset of the end of central directory record, searching back over a possible comment; -1 if none. */
function findEndRecord (bytes: Buffer): number {
  const stop = Math.max(0, bytes.length - EOCD_SIZE - MAX_COMMENT)
  for (let at = bytes.length - EOCD_SIZE; at >= stop; at--) {
    if (bytes.readUInt32LE(at) === EOCD_SIGNATURE) return at
  }
  return -1
}

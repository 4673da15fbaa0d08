import { open } from 'node:fs/promises'

/**
 * A minimal GGUF v3 writer, enough to produce benchmark models with synthetic weights.
 *
 * Layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): magic `GGUF`, version,
 * tensor count, key/value count, the key/values, the tensor infos, padding to `general.alignment`
 * (32 by default), then the tensor data, each tensor starting at an aligned offset. All integers
 * are little-endian; strings are a u64 byte length followed by UTF-8 bytes.
 */

/** GGUF metadata value types (gguf.md, `gguf_metadata_value_type`). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12
} as const

/** The ggml tensor types this writer can emit. */
export const GgmlTensorType = {
  F32: 0,
  F16: 1
} as const

export type GgmlTensorTypeId = typeof GgmlTensorType[keyof typeof GgmlTensorType]

/** A typed metadata value. Arrays hold scalars or strings of a single type. */
export type GgufValue =
  | { type: 'u32', value: number }
  | { type: 'i32', value: number }
  | { type: 'f32', value: number }
  | { type: 'u64', value: bigint }
  | { type: 'bool', value: boolean }
  | { type: 'string', value: string }
  | { type: 'string[]', value: readonly string[] }
  | { type: 'f32[]', value: ArrayLike<number> }
  | { type: 'i32[]', value: ArrayLike<number> }

/** One tensor: its name, shape (ne[0] first, as ggml orders it), type and a data producer. */
export interface GgufTensor {
  name: string
  dims: readonly number[]
  type: GgmlTensorTypeId
  /**
   * Fills `out` (the tensor's bytes, `out.length` = element count × element size) in chunks:
   * called once per chunk with the element offset of the chunk's first element.
   */
  fill: (out: Uint8Array, firstElement: number) => void
}

const ALIGNMENT = 32
const CHUNK_ELEMENTS = 1 << 20

function elementSize (type: GgmlTensorTypeId): number {
  return type === GgmlTensorType.F16 ? 2 : 4
}

function elementCount (dims: readonly number[]): number {
  return dims.reduce((a, d) => a * d, 1)
}

function alignUp (n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment
}

/** Growable little-endian byte buffer for the header part of the file. */
class ByteWriter {
  #buf = Buffer.alloc(1 << 16)
  #len = 0

  get length (): number {
    return this.#len
  }

  #reserve (n: number): void {
    if (this.#len + n <= this.#buf.length) return
    const next = Buffer.alloc(Math.max(this.#buf.length * 2, this.#len + n))
    this.#buf.copy(next, 0, 0, this.#len)
    this.#buf = next
  }

  u32 (v: number): void { this.#reserve(4); this.#buf.writeUInt32LE(v, this.#len); this.#len += 4 }
  i32 (v: number): void { this.#reserve(4); this.#buf.writeInt32LE(v, this.#len); this.#len += 4 }
  f32 (v: number): void { this.#reserve(4); this.#buf.writeFloatLE(v, this.#len); this.#len += 4 }
  u64 (v: bigint | number): void { this.#reserve(8); this.#buf.writeBigUInt64LE(BigInt(v), this.#len); this.#len += 8 }
  u8 (v: number): void { this.#reserve(1); this.#buf.writeUInt8(v, this.#len); this.#len += 1 }

  string (s: string): void {
    const bytes = Buffer.from(s, 'utf8')
    this.u64(bytes.length)
    this.#reserve(bytes.length)
    bytes.copy(this.#buf, this.#len)
    this.#len += bytes.length
  }

  pad (alignment: number): void {
    const target = alignUp(this.#len, alignment)
    this.#reserve(target - this.#len)
    this.#buf.fill(0, this.#len, target)
    this.#len = target
  }

  bytes (): Buffer {
    return this.#buf.subarray(0, this.#len)
  }
}

function writeValue (w: ByteWriter, v: GgufValue): void {
  switch (v.type) {
    case 'u32': w.u32(GgufValueType.UINT32); w.u32(v.value); break
    case 'i32': w.u32(GgufValueType.INT32); w.i32(v.value); break
    case 'f32': w.u32(GgufValueType.FLOAT32); w.f32(v.value); break
    case 'u64': w.u32(GgufValueType.UINT64); w.u64(v.value); break
    case 'bool': w.u32(GgufValueType.BOOL); w.u8(v.value ? 1 : 0); break
    case 'string': w.u32(GgufValueType.STRING); w.string(v.value); break
    case 'string[]':
      w.u32(GgufValueType.ARRAY); w.u32(GgufValueType.STRING); w.u64(v.value.length)
      for (const s of v.value) w.string(s)
      break
    case 'f32[]':
      w.u32(GgufValueType.ARRAY); w.u32(GgufValueType.FLOAT32); w.u64(v.value.length)
      for (let i = 0; i < v.value.length; i++) w.f32(v.value[i]!)
      break
    case 'i32[]':
      w.u32(GgufValueType.ARRAY); w.u32(GgufValueType.INT32); w.u64(v.value.length)
      for (let i = 0; i < v.value.length; i++) w.i32(v.value[i]!)
      break
  }
}

/**
 * Writes a GGUF v3 file. Tensor data is produced chunk by chunk through each tensor's `fill`, so
 * a model of hundreds of megabytes never has to sit in memory at once.
 *
 * @param path - destination file (overwritten)
 * @param metadata - key/values in the order they are written
 * @param tensors - tensors in file order
 * @returns the total number of bytes written
 */
export async function writeGguf (path: string, metadata: ReadonlyArray<[string, GgufValue]>, tensors: readonly GgufTensor[]): Promise<number> {
  const w = new ByteWriter()
  w.u32(0x46554747) // 'GGUF' read as a little-endian u32
  w.u32(3)
  w.u64(tensors.length)
  w.u64(metadata.length)
  for (const [key, value] of metadata) {
    w.string(key)
    writeValue(w, value)
  }
  let offset = 0
  const offsets: number[] = []
  for (const t of tensors) {
    w.string(t.name)
    w.u32(t.dims.length)
    for (const d of t.dims) w.u64(d)
    w.u32(t.type)
    w.u64(offset)
    offsets.push(offset)
    offset = alignUp(offset + elementCount(t.dims) * elementSize(t.type), ALIGNMENT)
  }
  w.pad(ALIGNMENT)
  const dataStart = w.length

  const fh = await open(path, 'w')
  try {
    await fh.write(w.bytes(), 0, w.length, 0)
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!
      const size = elementSize(t.type)
      const total = elementCount(t.dims)
      let position = dataStart + offsets[i]!
      for (let first = 0; first < total; first += CHUNK_ELEMENTS) {
        const n = Math.min(CHUNK_ELEMENTS, total - first)
        const chunk = new Uint8Array(n * size)
        t.fill(chunk, first)
        await fh.write(chunk, 0, chunk.length, position)
        position += chunk.length
      }
    }
    // A trailing pad keeps the file length a multiple of the alignment, as gguf-py does.
    const end = dataStart + offset
    await fh.truncate(end)
    return end
  } finally {
    await fh.close()
  }
}

const f32Scratch = new Float32Array(1)
const u32Scratch = new Uint32Array(f32Scratch.buffer)

/** Converts a float to IEEE 754 binary16 bits (round to nearest even; no NaN payloads). */
export function toFloat16Bits (value: number): number {
  f32Scratch[0] = value
  const x = u32Scratch[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >>> shift
    const rest = mant & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++
    return sign | half
  }
  let half = (e << 10) | (mant >>> 13)
  const rest = mant & 0x1fff
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++
  return sign | half
}

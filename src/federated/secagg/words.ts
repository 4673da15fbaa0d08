/**
 * Vectors of 32-bit words with arithmetic mod 2³², the inner loop of secure aggregation: a client
 * adds one PRG mask per neighbour to its input, the coordinator adds every masked input into the
 * sum and subtracts masks again. A 100k-word mask costs ~0.1 ms of AES-CTR keystream; adding it
 * word by word in JavaScript costs 1–2.5 times more, so the additions run as WebAssembly SIMD
 * (i32x4.add / i32x4.sub, a 57-byte function each, assembled below) over the vector kept in the
 * module's memory. Where WebAssembly SIMD is unavailable the same operations run as JavaScript
 * loops. Values are little-endian, as WebAssembly and every platform Node supports store them.
 *
 * @packageDocumentation
 */
import { createCipheriv } from 'node:crypto'

/** The part of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory { readonly buffer: ArrayBuffer, grow: (pages: number) => number }
interface WasmInstance { readonly exports: Record<string, unknown> }
declare const WebAssembly: {
  validate: (bytes: Uint8Array) => boolean
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object) => WasmInstance
}

/** Bytes of keystream produced and added at a time (fits in cache). */
const CHUNK = 64 * 1024
const ZEROS = Buffer.alloc(CHUNK)
const ZERO_IV = Buffer.alloc(16)
const PAGE = 64 * 1024

/**
 * `(func (param $dst i32) (param $src i32) (param $bytes i32))`: while bytes > 0, the 16 bytes at
 * dst become i32x4.<op>(dst, src); dst, src += 16; bytes −= 16.
 */
function simdLoop (op: number): number[] {
  return [
    0x00, // no locals
    0x02, 0x40, 0x03, 0x40, // block, loop
    0x20, 0x02, 0x45, 0x0d, 0x01, // br_if 1 (bytes == 0)
    0x20, 0x00, // dst (store address)
    0x20, 0x00, 0xfd, 0x00, 0x04, 0x00, // v128.load dst
    0x20, 0x01, 0xfd, 0x00, 0x04, 0x00, // v128.load src
    0xfd, op, 0x01, // i32x4.add (0xae 0x01) or i32x4.sub (0xb1 0x01)
    0xfd, 0x0b, 0x04, 0x00, // v128.store
    0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // dst += 16
    0x20, 0x01, 0x41, 0x10, 0x6a, 0x21, 0x01, // src += 16
    0x20, 0x02, 0x41, 0x10, 0x6b, 0x21, 0x02, // bytes −= 16
    0x0c, 0x00, 0x0b, 0x0b, 0x0b // br 0, end loop, end block, end func
  ]
}

function section (id: number, body: number[]): number[] {
  return [id, body.length, ...body]
}

function exported (name: string, kind: number, index: number): number[] {
  return [name.length, ...Buffer.from(name), kind, index]
}

const ADD = simdLoop(0xae)
const SUB = simdLoop(0xb1)
const WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]), // one type: (i32, i32, i32) → ()
  ...section(3, [2, 0, 0]), // two functions of that type
  ...section(5, [1, 0, 1]), // one memory, at least one page
  ...section(7, [3, ...exported('memory', 2, 0), ...exported('add', 0, 0), ...exported('sub', 0, 1)]),
  ...section(10, [2, ADD.length, ...ADD, SUB.length, ...SUB])
])

let simd: object | null | undefined

/** The compiled SIMD module, or null where WebAssembly SIMD is unavailable. */
function simdModule (): object | null {
  if (simd === undefined) {
    try {
      simd = WebAssembly.validate(WASM) ? new WebAssembly.Module(WASM) : null
    } catch {
      simd = null
    }
  }
  return simd
}

type Loop = (dst: number, src: number, bytes: number) => void

/**
 * A vector of `length` words mod 2³² plus a scratch area for operands, in one buffer (WebAssembly
 * memory when SIMD is available). Byte counts are padded to 16; padding words are never read out.
 */
export class WordVector {
  readonly length: number
  readonly #bytes: number
  readonly #scratch: number
  readonly #scratchBytes: number
  readonly #buffer: ArrayBuffer
  readonly #add: Loop
  readonly #sub: Loop

  /**
   * @param length - words in the vector
   * @param wholeVectorScratch - make the scratch area large enough for a whole vector (for
   *   {@link WordVector.addEncoded}); otherwise it holds one keystream chunk
   * @param useSimd - false forces the JavaScript loops (tests compare both)
   */
  constructor (length: number, wholeVectorScratch = false, useSimd = true) {
    this.length = length
    this.#bytes = Math.ceil(length * 4 / 16) * 16
    this.#scratch = this.#bytes
    this.#scratchBytes = Math.max(CHUNK, wholeVectorScratch ? this.#bytes : 0)
    const total = this.#bytes + this.#scratchBytes
    const module = useSimd ? simdModule() : null
    if (module != null) {
      const instance = new WebAssembly.Instance(module)
      const memory = instance.exports.memory as WasmMemory
      memory.grow(Math.ceil(total / PAGE) - 1)
      this.#buffer = memory.buffer
      this.#add = instance.exports.add as Loop
      this.#sub = instance.exports.sub as Loop
    } else {
      this.#buffer = new ArrayBuffer(total)
      const words = new Int32Array(this.#buffer)
      this.#add = (dst, src, bytes) => {
        const d = dst >>> 2
        const s = src >>> 2
        for (let i = 0; i < bytes >>> 2; i++) words[d + i] = (words[d + i]! + words[s + i]!) | 0
      }
      this.#sub = (dst, src, bytes) => {
        const d = dst >>> 2
        const s = src >>> 2
        for (let i = 0; i < bytes >>> 2; i++) words[d + i] = (words[d + i]! - words[s + i]!) | 0
      }
    }
  }

  /** The vector's words (a view: valid until the vector is dropped). */
  get words (): Uint32Array {
    return new Uint32Array(this.#buffer, 0, this.length)
  }

  /** The vector's bytes, little-endian (a view). */
  get bytes (): Uint8Array {
    return new Uint8Array(this.#buffer, 0, this.length * 4)
  }

  /**
   * Adds (`sign` 1) or subtracts (`sign` −1) the PRG expansion of `key`: the AES-256-CTR keystream
   * (zero IV — every key expands one mask only) read as little-endian 32-bit words.
   */
  applyMask (key: Uint8Array, sign: 1 | -1): void {
    const cipher = createCipheriv('aes-256-ctr', key, ZERO_IV)
    const scratch = new Uint8Array(this.#buffer, this.#scratch, CHUNK)
    const loop = sign === 1 ? this.#add : this.#sub
    for (let offset = 0; offset < this.#bytes; offset += CHUNK) {
      const n = Math.min(CHUNK, this.#bytes - offset)
      scratch.set(cipher.update(n === CHUNK ? ZEROS : ZEROS.subarray(0, n)))
      loop(offset, this.#scratch, n)
    }
  }

  /**
   * Decodes a base64url string of exactly `length` words straight into the scratch area and adds
   * it to the vector. Returns false (leaving the vector unchanged) when it does not decode to
   * exactly that many bytes.
   */
  addEncoded (base64url: string): boolean {
    const n = this.length * 4
    if (this.#scratchBytes < this.#bytes) throw new RangeError('this vector was made without a whole-vector scratch area')
    if (base64url.length !== Math.ceil(n * 4 / 3)) return false
    const target = Buffer.from(this.#buffer, this.#scratch, n)
    if (target.write(base64url, 'base64url') !== n) return false
    loopTail(this.#buffer, this.#scratch, n, this.#bytes)
    this.#add(0, this.#scratch, this.#bytes)
    return true
  }
}

/** Zeroes the padding after `n` bytes at `offset`, up to `padded`, so that it adds nothing. */
function loopTail (buffer: ArrayBuffer, offset: number, n: number, padded: number): void {
  if (padded > n) new Uint8Array(buffer, offset + n, padded - n).fill(0)
}

/**
 * Key handling primitives for cabinets: a passphrase becomes a key-encryption key (KEK) with scrypt,
 * and the KEK wraps a random data key with AES-256-GCM. The data key is what SQLCipher encrypts the
 * cabinet file with, so changing the passphrase re-wraps 32 bytes instead of re-encrypting the data.
 *
 * Buffers holding keys are zeroed when no longer needed. That is best effort: V8 may have copied
 * them, and strings (such as the passphrase itself) cannot be wiped at all.
 *
 * @packageDocumentation
 */

import { createCipheriv, createDecipheriv, randomBytes, type ScryptOptions } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { DATA_KEY_BYTES, GCM_NONCE_BYTES, GCM_TAG_BYTES, SCRYPT_LIMITS, type ScryptParams } from './constants.js'
import type { KdfJob } from './kdf-worker.js'

const KDF_WORKER_URL = new URL('./kdf-worker.js', import.meta.url)

/** A data key wrapped under a KEK: all three parts are needed (and authenticated) to unwrap it. */
export interface WrappedKey {
  nonce: Buffer
  ciphertext: Buffer
  tag: Buffer
}

/** Thrown by {@link unwrapKey} when the GCM tag does not verify: wrong KEK or tampered keyring. */
export class KeyUnwrapError extends Error {
  override readonly name = 'KeyUnwrapError'
}

/** Overwrites a buffer with zeros (best effort; see the module note). */
export function zeroize (buf: Buffer | Uint8Array | null | undefined): void {
  buf?.fill(0)
}

/** A fresh random data key. */
export function generateDataKey (): Buffer {
  return randomBytes(DATA_KEY_BYTES)
}

/**
 * Checks scrypt parameters against {@link SCRYPT_LIMITS}: N a power of two in range, r and p in
 * range, memory (128·N·r bytes) under the cap. Returns a description of the problem, or null.
 */
export function scryptParamsProblem (params: ScryptParams): string | null {
  const { N, r, p } = params
  const log2N = Math.log2(N)
  if (!Number.isInteger(N) || !Number.isInteger(log2N) || log2N < SCRYPT_LIMITS.minLog2N || log2N > SCRYPT_LIMITS.maxLog2N) {
    return `scrypt N must be a power of two between 2^${SCRYPT_LIMITS.minLog2N} and 2^${SCRYPT_LIMITS.maxLog2N}`
  }
  if (!Number.isInteger(r) || r < 1 || r > SCRYPT_LIMITS.maxR) return `scrypt r must be an integer from 1 to ${SCRYPT_LIMITS.maxR}`
  if (!Number.isInteger(p) || p < 1 || p > SCRYPT_LIMITS.maxP) return `scrypt p must be an integer from 1 to ${SCRYPT_LIMITS.maxP}`
  if (scryptMemoryBytes(params) > SCRYPT_LIMITS.maxMemBytes) return 'scrypt parameters need more memory than allowed'
  return null
}

/** Memory scrypt needs for these parameters (128·N·r bytes for the large vector, plus 128·r·p). */
export function scryptMemoryBytes ({ N, r, p }: ScryptParams): number {
  return 128 * N * r + 128 * r * p
}

/**
 * Derives a 32-byte KEK from a passphrase with scrypt (RFC 7914). Runs in a worker thread of its
 * own, not in libuv's thread pool: the node runs with a one-thread pool (bin/plexus.js) that
 * node-llama-cpp needs for every token, and this KDF burns ~128 MiB and half a second.
 *
 * The passphrase is NFC-normalised first, so the same visible text typed on different keyboards
 * (precomposed or combining accents) gives the same key.
 */
export async function deriveKek (passphrase: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const problem = scryptParamsProblem(params)
  if (problem != null) throw new RangeError(problem)
  const secret = Buffer.from(passphrase.normalize('NFC'), 'utf8')
  // Node refuses scrypt above `maxmem` (32 MiB by default); allow exactly what these parameters need.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: scryptMemoryBytes(params) + 1024 * 1024 }
  const job: KdfJob = { secret, salt, keyLength: DATA_KEY_BYTES, options }
  try {
    const key = await new Promise<Uint8Array>((resolve, reject) => {
      // A worker inherits the process's execArgv; `--input-type` (a parent run with `node
      // --input-type=module -e …`) would make it refuse to load its own file.
      const execArgv = process.execArgv.filter(a => !a.startsWith('--input-type'))
      const worker = new Worker(KDF_WORKER_URL, { workerData: job, execArgv })
      let result: Uint8Array | null = null
      worker.once('message', (k: Uint8Array) => { result = k })
      worker.once('error', reject)
      worker.once('exit', (code) => {
        if (result != null) resolve(result)
        else reject(new Error(`the scrypt worker exited with code ${code} without a key`))
      })
    })
    return Buffer.from(key.buffer, key.byteOffset, key.byteLength)
  } finally {
    zeroize(secret)
  }
}

/** Wraps (encrypts and authenticates) a data key under a KEK with AES-256-GCM and a random nonce. */
export function wrapKey (dataKey: Buffer, kek: Buffer, aad: string): WrappedKey {
  const nonce = randomBytes(GCM_NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: GCM_TAG_BYTES })
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const ciphertext = Buffer.concat([cipher.update(dataKey), cipher.final()])
  return { nonce, ciphertext, tag: cipher.getAuthTag() }
}

/**
 * Unwraps a data key. A wrong KEK (wrong passphrase) or any changed byte of nonce, ciphertext, tag or
 * associated data fails GCM authentication and throws {@link KeyUnwrapError}; nothing is returned
 * unauthenticated.
 */
export function unwrapKey (wrapped: WrappedKey, kek: Buffer, aad: string): Buffer {
  if (wrapped.tag.length !== GCM_TAG_BYTES || wrapped.nonce.length !== GCM_NONCE_BYTES || wrapped.ciphertext.length !== DATA_KEY_BYTES) {
    throw new KeyUnwrapError('wrapped key has the wrong shape')
  }
  const decipher = createDecipheriv('aes-256-gcm', kek, wrapped.nonce, { authTagLength: GCM_TAG_BYTES })
  decipher.setAAD(Buffer.from(aad, 'utf8'))
  decipher.setAuthTag(wrapped.tag)
  const head = decipher.update(wrapped.ciphertext)
  try {
    const tail = decipher.final()
    const key = Buffer.concat([head, tail])
    zeroize(head)
    return key
  } catch (err) {
    zeroize(head)
    throw new KeyUnwrapError('the key does not authenticate', { cause: err })
  }
}

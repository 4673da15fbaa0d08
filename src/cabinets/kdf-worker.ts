/**
 * Worker-thread body of {@link deriveKek}: runs scrypt synchronously on its own thread and posts
 * the key back. Keeping the KDF here, rather than in libuv's thread pool (`crypto.scrypt`), matters
 * because the node's launcher shrinks that pool to one thread (see bin/plexus.js), which
 * node-llama-cpp also uses for every decode step: a half-second scrypt there would stall token
 * generation for its whole duration.
 *
 * @packageDocumentation
 */

import { scryptSync, type ScryptOptions } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'

/** What {@link deriveKek} sends to the worker. */
export interface KdfJob {
  secret: Uint8Array
  salt: Uint8Array
  keyLength: number
  options: ScryptOptions
}

const job = workerData as KdfJob
const key = scryptSync(job.secret, job.salt, job.keyLength, job.options)
job.secret.fill(0)
// A fresh copy that owns its memory, so it can be transferred (scryptSync's Buffer may be pooled).
const out = new Uint8Array(key)
key.fill(0)
parentPort?.postMessage(out, [out.buffer])

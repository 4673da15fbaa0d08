// Shared helpers for the cabinet tests (not a test file itself).
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isPlexusError } from '../../../src/errors.js'
import { CabinetStore, type CabinetStoreOptions, type DocumentInput } from '../../../src/cabinets/store.js'
import type { ScryptParams } from '../../../src/cabinets/constants.js'

/** scrypt at its cheapest accepted setting (1 MiB, about a millisecond): tests are not about KDF cost. */
export const CHEAP_KDF: ScryptParams = { N: 1024, r: 1, p: 1 }
export const PASSPHRASE = 'correct horse battery staple'

export const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex')

/** A predicate for assert.throws / assert.rejects matching a PlexusError code. */
export const hasCode = (code: string) => (err: unknown): boolean => isPlexusError(err) && err.code === code

export function tempDir (): string {
  return mkdtempSync(join(tmpdir(), 'plexus-cabinet-'))
}

export function removeDir (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

export async function createStore (dir: string, name = 'test', options: CabinetStoreOptions = {}): Promise<CabinetStore> {
  return await CabinetStore.create(dir, name, PASSPHRASE, { kdf: CHEAP_KDF, ...options })
}

/** A document whose chunks are `texts` and whose sha256 is derived from them (so equal texts dedupe). */
export function doc (path: string, texts: string[], extra: Partial<DocumentInput> = {}): DocumentInput {
  return {
    path,
    title: null,
    mime: 'text/plain',
    mtime: 1_700_000_000_000,
    size: texts.join('\n').length,
    sha256: sha256(texts.join('\u0000')),
    chunks: texts.map(text => ({ heading: null, text, tokenCount: text.split(/\s+/).length })),
    ...extra
  }
}

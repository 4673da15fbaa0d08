import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'

/** Root of the installed Plexus package (compiled code lives in dist/src/). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The model shipped with Plexus, so that a fresh clone runs with no download. */
export const EMBEDDED_MODEL = {
  name: 'stories260K',
  path: join(PACKAGE_ROOT, 'models', 'stories260K.gguf'),
  sha256: '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d'
} as const

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version

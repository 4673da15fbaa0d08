import { mkdirSync, chmodSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve, isAbsolute } from 'node:path'

/**
 * Where a node keeps its state. Precedence: an explicit `--data-dir`, then `PLEXUS_DATA_DIR`, then
 * the XDG data directory (`$XDG_DATA_HOME/plexus`, else `~/.local/share/plexus`).
 */
export function resolveDataDir (explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit != null && explicit !== '') return resolve(explicit)
  if (env.PLEXUS_DATA_DIR != null && env.PLEXUS_DATA_DIR !== '') return resolve(env.PLEXUS_DATA_DIR)
  // The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
  const xdg = env.XDG_DATA_HOME != null && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share')
  return join(xdg, 'plexus')
}

/** The files inside a data directory, named in one place. */
export function dataDirPaths (dataDir: string) {
  return {
    root: dataDir,
    config: join(dataDir, 'config.json'),
    identity: join(dataDir, 'identity.json'),
    models: join(dataDir, 'models'),
    modelRegistry: join(dataDir, 'models.json'),
    apiKeys: join(dataDir, 'api-keys.json'),
    /** Written while a node runs so that CLI commands can find it. */
    runtime: join(dataDir, 'node.json')
  }
}

export type DataDirPaths = ReturnType<typeof dataDirPaths>

/** Creates the directory (mode 0700: it holds keys) if it does not exist. */
export function ensureDataDir (dataDir: string): DataDirPaths {
  const paths = dataDirPaths(dataDir)
  mkdirSync(paths.root, { recursive: true, mode: 0o700 })
  mkdirSync(paths.models, { recursive: true, mode: 0o700 })
  try { chmodSync(paths.root, 0o700) } catch {}
  return paths
}

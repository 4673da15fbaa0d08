import { spawn } from 'node:child_process'
import { cp, mkdir, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

/** Where the benchmark keeps its private copy of node-llama-cpp with a source build. */
export function nlcCopyDir (root: string): string {
  return join(root, '.cache', 'nlc', 'node_modules', 'node-llama-cpp')
}

/** Result of {@link ensureNlcSourceBuild}. */
export interface NlcSourceBuild {
  /** Entry file to `import()` instead of `node-llama-cpp`. */
  entry: string
  /** Seconds spent building, 0 when the cached build was reused. */
  buildS: number
}

/**
 * Builds node-llama-cpp's native addon from source, offline, into a private copy of the package
 * under `.cache/nlc/` so that the project's own `node_modules` (used by everyone else) is left
 * alone. This is the same command a user would run in their install
 * (`npx --no node-llama-cpp source download --gpu false`): it clones the llama.cpp git bundle the
 * package ships (`llama/gitRelease.bundle`), configures with cmake-js (headers come from the
 * `node-api-headers` package, so nothing is downloaded) and compiles with GGML_NATIVE=ON and
 * llama.cpp's default GGML_OPENMP=ON. Takes ~3.5 minutes on 2 cores.
 *
 * @param root - repository root
 * @returns the entry to import and the build time
 */
export async function ensureNlcSourceBuild (root: string): Promise<NlcSourceBuild> {
  const dir = nlcCopyDir(root)
  const entry = join(dir, 'dist', 'index.js')
  if (existsSync(join(dir, 'llama', 'localBuilds', `linux-${process.arch}`, 'buildDone.status'))) {
    return { entry, buildS: 0 }
  }
  const t0 = performance.now()
  await rm(dir, { recursive: true, force: true })
  await mkdir(join(dir, '..'), { recursive: true })
  // A copy, not a symlink: node-llama-cpp finds its llama/ folder from its own real path.
  await cp(join(root, 'node_modules', 'node-llama-cpp'), dir, { recursive: true })
  // CI mode would not matter for `source download`, but keep the build identical to a user's.
  const env = { ...process.env }
  delete env.CI
  const child = spawn(process.execPath, [join(dir, 'dist', 'cli', 'cli.js'), 'source', 'download', '--gpu', 'false', '--noUsageExample'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  if (code !== 0) throw new Error(`node-llama-cpp source download failed with exit code ${String(code)}`)
  return { entry, buildS: (performance.now() - t0) / 1000 }
}

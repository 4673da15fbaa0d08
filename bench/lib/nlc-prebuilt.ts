import { cp, mkdir, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join, relative, sep } from 'node:path'

/**
 * A copy of node-llama-cpp under `.cache/nlc-prebuilt/` without any local build or cloned source
 * (`llama/localBuilds/`, `llama/llama.cpp/`, `llama/lastBuild.json`), so it always loads the
 * prebuilt binary that npm installs, even after `plexus engine build` (which node-llama-cpp
 * otherwise prefers). The prebuilt binaries themselves (`@node-llama-cpp/*`) are found by walking
 * up to the project's node_modules.
 *
 * @param root - repository root
 * @returns the entry to import instead of `node-llama-cpp`
 */
export async function ensureNlcPrebuiltCopy (root: string): Promise<string> {
  const source = join(root, 'node_modules', 'node-llama-cpp')
  const dir = join(root, '.cache', 'nlc-prebuilt', 'node_modules', 'node-llama-cpp')
  const entry = join(dir, 'dist', 'index.js')
  const stamp = join(dir, '.plexus-copy-done')
  if (existsSync(stamp)) return entry
  await rm(dir, { recursive: true, force: true })
  await mkdir(join(dir, '..'), { recursive: true })
  const skip = new Set([join('llama', 'localBuilds'), join('llama', 'llama.cpp'), join('llama', 'lastBuild.json'), join('llama', 'gitRelease.bundle')])
  await cp(source, dir, {
    recursive: true,
    filter: (src) => {
      const rel = relative(source, src)
      return ![...skip].some((s) => rel === s || rel.startsWith(s + sep))
    }
  })
  await cp(join(source, 'package.json'), stamp)
  return entry
}

/**
 * Builds the native generation loop (native/generation-loop/, see native-loop.ts) into
 * `.cache/native-loop/` of the package: a Node-API addon linked against the llama.cpp shared
 * libraries node-llama-cpp itself loads (the prebuilt package's, or the local build's), with the
 * llama.cpp headers taken offline from the source bundle node-llama-cpp ships. One C++ file against
 * existing libraries: seconds, not the minutes of a llama.cpp build.
 *
 * @packageDocumentation
 */

import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import { PlexusError } from '../errors.js'
import { writeJsonAtomic } from '../node/json-file.js'
import { PACKAGE_ROOT } from '../paths.js'
import { localBuilds, missingBuildTools, nodeLlamaCppDir, runBuildStep, type EngineBinary } from './engine-build.js'

/** Where the addon, its build folder and the header checkout live (ignored by git). */
export function nativeLoopDir (root: string = PACKAGE_ROOT): string {
  return join(root, '.cache', 'native-loop')
}

/** The addon's source folder in the package. */
export function nativeLoopSourceDir (root: string = PACKAGE_ROOT): string {
  return join(root, 'native', 'generation-loop')
}

const ManifestSchema = z.object({
  /** Which node-llama-cpp binary the addon links against. */
  binary: z.enum(['prebuilt', 'local build']),
  /** llama.cpp release of that binary, whose headers and libraries the addon is built against. */
  llamaCpp: z.string(),
  /** Folder of the libllama / libggml shared libraries linked against. */
  libDir: z.string(),
  /** The addon file. */
  addon: z.string(),
  builtAt: z.string(),
  seconds: z.number()
})

/** What a finished build recorded (`.cache/native-loop/build.json`). */
export type NativeLoopManifest = z.infer<typeof ManifestSchema>

/** The finished build, or null when there is none (or its record is unreadable). */
export function readNativeLoopManifest (dir: string = nativeLoopDir()): NativeLoopManifest | null {
  const file = join(dir, 'build.json')
  if (!existsSync(file)) return null
  try {
    const m = ManifestSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
    return existsSync(m.addon) ? m : null
  } catch {
    return null
  }
}

/** The folder of llama.cpp's shared libraries for a binary kind, or null when there is none. */
export function llamaLibDir (binary: EngineBinary['binary'], packageDir: string = nodeLlamaCppDir()): string | null {
  const hasLib = (dir: string): boolean => existsSync(dir) && readdirSync(dir).some(f => /^libllama(\.v[\d.]+)?\.so$/.test(f))
  if (binary === 'local build') {
    for (const build of localBuilds(packageDir)) {
      for (const dir of [join(build.dir, 'Release'), build.dir]) if (hasLib(dir)) return realpathSync(dir)
    }
    return null
  }
  const folder = `${process.platform}-${process.arch}`
  try {
    // The package exports only dist/index.js: its folder is two levels up.
    const pkg = dirname(dirname(createRequire(join(packageDir, 'package.json')).resolve(`@node-llama-cpp/${folder}`)))
    const dir = join(pkg, 'bins', folder)
    return hasLib(dir) ? realpathSync(dir) : null
  } catch {
    return null
  }
}

/** Node's own headers (node_api.h): next to the running binary, as official builds and distributions ship them. */
export function nodeIncludeDir (): string | null {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node']
  return candidates.find(d => existsSync(join(d, 'node_api.h'))) ?? null
}

function napiIncludeDir (): string | null {
  for (const from of [join(nodeLlamaCppDir(), 'package.json'), join(PACKAGE_ROOT, 'package.json')]) {
    try {
      return dirname(createRequire(from).resolve('node-addon-api/package.json'))
    } catch {}
  }
  return null
}

async function run (command: string, args: string[], options: { env: NodeJS.ProcessEnv, signal?: AbortSignal }): Promise<void> {
  const code = await runBuildStep(command, args, options)
  if (code !== 0) throw new PlexusError('PLX_ERR_NATIVE_LOOP_BUILD', [`\`${command} ${args.join(' ')}\` failed (exit code ${String(code)}; its output is above). Generations keep using node-llama-cpp`])
}

/** Options of {@link buildNativeLoop}. */
export interface BuildNativeLoopOptions {
  /**
   * The binary node-llama-cpp uses (engine-build.ts currentBinary): the addon links against its
   * libraries and is for CPU builds only.
   */
  binary: EngineBinary
  /** Rebuild even when a build for this binary exists. */
  force?: boolean
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** Package root (tests). */
  root?: string
}

/** Result of {@link buildNativeLoop}. */
export interface BuildNativeLoopResult {
  built: boolean
  seconds: number
  manifest: NativeLoopManifest
}

/**
 * Builds the addon against the libraries of `binary` (cmake, offline). Refuses with
 * PLX_ERR_NATIVE_LOOP_BUILD, changing nothing, when a tool, Node's headers or the libraries are missing.
 */
export async function buildNativeLoop (options: BuildNativeLoopOptions): Promise<BuildNativeLoopResult> {
  const env = options.env ?? process.env
  const root = options.root ?? PACKAGE_ROOT
  const dir = nativeLoopDir(root)
  const { binary: kind, gpu, llamaCpp } = options.binary
  const existing = readNativeLoopManifest(dir)
  if (existing != null && existing.binary === kind && existing.llamaCpp === llamaCpp && options.force !== true) return { built: false, seconds: 0, manifest: existing }
  if (gpu !== false) throw new PlexusError('PLX_ERR_NATIVE_LOOP_BUILD', [`node-llama-cpp runs the ${gpu} backend here; the loop supports CPU builds only. Generations keep using node-llama-cpp`])
  const missing = missingBuildTools(env)
  if (missing != null) throw new PlexusError('PLX_ERR_NATIVE_LOOP_BUILD', [`${missing}. Generations keep using node-llama-cpp`])
  const packageDir = nodeLlamaCppDir()
  const libDir = llamaLibDir(kind, packageDir)
  if (libDir == null) throw new PlexusError('PLX_ERR_NATIVE_LOOP_BUILD', [`no llama.cpp shared libraries found for the ${kind} binary of node-llama-cpp at ${packageDir}. Generations keep using node-llama-cpp`])
  const nodeInclude = nodeIncludeDir()
  if (nodeInclude == null) throw new PlexusError('PLX_ERR_NATIVE_LOOP_BUILD', [`Node's headers (node_api.h) were not found next to ${process.execPath}. Generations keep using node-llama-cpp`])
  const napiInclude = napiIncludeDir()
  if (napiInclude == null) throw new PlexusError('PLX_ERR_NATIVE_LOOP_BUILD', ['the node-addon-api package was not found. Generations keep using node-llama-cpp'])
  const bundle = join(packageDir, 'llama', 'gitRelease.bundle')
  if (!existsSync(bundle)) throw new PlexusError('PLX_ERR_NATIVE_LOOP_BUILD', [`node-llama-cpp at ${packageDir} ships no llama.cpp source bundle. Generations keep using node-llama-cpp`])

  const started = performance.now()
  mkdirSync(dir, { recursive: true })
  // The headers: a checkout of the bundle (one squashed commit), kept for later builds.
  const src = join(dir, 'llama-src')
  if (!existsSync(join(src, 'include', 'llama.h'))) {
    rmSync(src, { recursive: true, force: true })
    await run('git', ['clone', '--quiet', '--depth', '1', bundle, src], { env, signal: options.signal })
  }
  const build = join(dir, 'build')
  const ninja = spawnSync('ninja', ['--version'], { env }).status === 0
  await run('cmake', [
    '-S', nativeLoopSourceDir(root), '-B', build,
    ...(ninja && !existsSync(join(build, 'Makefile')) ? ['-G', 'Ninja'] : []),
    '-DCMAKE_BUILD_TYPE=Release',
    `-DNODE_INCLUDE_DIR=${nodeInclude}`,
    `-DNAPI_INCLUDE_DIR=${napiInclude}`,
    `-DLLAMA_INCLUDE_DIR=${join(src, 'include')}`,
    `-DGGML_INCLUDE_DIR=${join(src, 'ggml', 'include')}`,
    `-DLLAMA_LIB_DIR=${libDir}`
  ], { env, signal: options.signal })
  await run('cmake', ['--build', build, '--config', 'Release'], { env, signal: options.signal })
  // Copy, then rename: a node loading the addon meanwhile sees the old file or the new one.
  const addon = join(dir, 'generation-loop.node')
  copyFileSync(join(build, 'generation_loop.node'), `${addon}.tmp`)
  renameSync(`${addon}.tmp`, addon)
  const manifest: NativeLoopManifest = {
    binary: kind,
    llamaCpp,
    libDir,
    addon,
    builtAt: statSync(addon).mtime.toISOString(),
    seconds: (performance.now() - started) / 1000
  }
  writeJsonAtomic(join(dir, 'build.json'), manifest)
  return { built: true, seconds: manifest.seconds, manifest }
}

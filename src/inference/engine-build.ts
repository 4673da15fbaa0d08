/**
 * The optional llama.cpp build from source (`plexus engine build`), and what tells which binary
 * the node runs.
 *
 * npm installs node-llama-cpp with a prebuilt llama.cpp. That binary has no OpenMP and creates new
 * worker threads for every token, so on small machines it decodes fastest at one thread. Built
 * from the source node-llama-cpp ships (offline: `llama/gitRelease.bundle`), llama.cpp uses OpenMP
 * and the machine's own instruction set, and with the launcher's one-thread libuv pool it decodes
 * ~30–40 % faster at two threads (bench/README.md). The build needs git, cmake and a C++ compiler
 * and takes minutes, so it is opt-in; node-llama-cpp prefers it over the prebuilt binary once it
 * exists (in `node_modules/node-llama-cpp/llama/localBuilds/`, so a reinstall removes it).
 *
 * @packageDocumentation
 */

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getLlama, LlamaLogLevel } from 'node-llama-cpp'
import { PlexusError } from '../errors.js'

/** A build tool found on the PATH, or not. */
export interface BuildTool {
  name: string
  /** First line of `--version`, or null when the tool is missing or unusable. */
  version: string | null
  /** Why the tool does not qualify, or null when it does. */
  problem: string | null
}

/** A finished local build of llama.cpp inside node-llama-cpp. */
export interface LocalBuild {
  /** node-llama-cpp's name for the build, e.g. `linux-x64`. */
  name: string
  dir: string
  builtAt: string
}

/** The node-llama-cpp package folder in use. */
export function nodeLlamaCppDir (): string {
  // import.meta.resolve gives dist/index.js of the package.
  return dirname(dirname(fileURLToPath(import.meta.resolve('node-llama-cpp'))))
}

/** Finished local builds (node-llama-cpp writes `buildDone.status` last). */
export function localBuilds (packageDir: string = nodeLlamaCppDir()): LocalBuild[] {
  const root = join(packageDir, 'llama', 'localBuilds')
  if (!existsSync(root)) return []
  return readdirSync(root).flatMap((name) => {
    const done = join(root, name, 'buildDone.status')
    return existsSync(done) ? [{ name, dir: join(root, name), builtAt: statSync(done).mtime.toISOString() }] : []
  })
}

function probe (command: string, env: NodeJS.ProcessEnv): string | null {
  const r = spawnSync(command, ['--version'], { encoding: 'utf8', env, timeout: 20_000 })
  if (r.error != null || r.status !== 0) return null
  return (r.stdout.trim().split('\n')[0] ?? '').trim() || command
}

/** git, cmake ≥ 3.19 and a C++ compiler (`$CXX`, else c++, g++ or clang++), as the build needs. */
export function findBuildTools (env: NodeJS.ProcessEnv = process.env): BuildTool[] {
  const git = probe('git', env)
  const cmake = probe('cmake', env)
  const compilers = [env.CXX, 'c++', 'g++', 'clang++'].filter((c): c is string => c != null && c !== '')
  let compiler: string | null = null
  for (const c of compilers) {
    compiler = probe(c, env)
    if (compiler != null) break
  }
  const cmakeVersion = /(\d+)\.(\d+)/.exec(cmake ?? '')
  const cmakeOld = cmakeVersion != null && (Number(cmakeVersion[1]) < 3 || (Number(cmakeVersion[1]) === 3 && Number(cmakeVersion[2]) < 19))
  return [
    { name: 'git', version: git, problem: git == null ? 'not found on the PATH' : null },
    { name: 'cmake', version: cmake, problem: cmake == null ? 'not found on the PATH' : (cmakeOld ? 'version 3.19 or newer is needed' : null) },
    { name: 'c++ compiler', version: compiler, problem: compiler == null ? `none of ${compilers.join(', ')} found on the PATH` : null }
  ]
}

/** The tools the build lacks, as one clause (`git: not found on the PATH; …`), or null when all are there. */
export function missingBuildTools (env: NodeJS.ProcessEnv = process.env): string | null {
  const missing = findBuildTools(env).filter((t) => t.problem != null)
  return missing.length > 0 ? missing.map((t) => `${t.name}: ${t.problem ?? ''}`).join('; ') : null
}

/**
 * Runs one build command with its output on this process's stderr (the build's progress is for a
 * person: stdout stays free for --json); resolves with its exit code.
 */
export async function runBuildStep (command: string, args: string[], options: { cwd?: string, env: NodeJS.ProcessEnv, signal?: AbortSignal }): Promise<number | null> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', process.stderr, process.stderr],
    ...(options.signal != null ? { signal: options.signal } : {})
  })
  return await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
}

/** Options of {@link buildEngine}. */
export interface BuildEngineOptions {
  /** Rebuild even when a local build exists. */
  force?: boolean
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

/** Result of {@link buildEngine}. */
export interface BuildEngineResult {
  /** False when a local build already existed and `force` was not set. */
  built: boolean
  seconds: number
  build: LocalBuild | null
}

/**
 * Builds llama.cpp for node-llama-cpp from the source it ships, offline, for the CPU
 * (`node-llama-cpp source download --gpu false`). The build's own output goes to this process's
 * stderr. Refuses with PLX_ERR_ENGINE_BUILD, before starting, when a tool is missing.
 */
export async function buildEngine (options: BuildEngineOptions = {}): Promise<BuildEngineResult> {
  const env = options.env ?? process.env
  const packageDir = nodeLlamaCppDir()
  const existing = localBuilds(packageDir)[0] ?? null
  if (existing != null && options.force !== true) return { built: false, seconds: 0, build: existing }
  const missing = missingBuildTools(env)
  if (missing != null) throw new PlexusError('PLX_ERR_ENGINE_BUILD', [`${missing}. The prebuilt binary stays in use`])
  if (!existsSync(join(packageDir, 'llama', 'gitRelease.bundle'))) {
    throw new PlexusError('PLX_ERR_ENGINE_BUILD', [`node-llama-cpp at ${packageDir} ships no llama.cpp source bundle. The prebuilt binary stays in use`])
  }
  const started = performance.now()
  const code = await runBuildStep(process.execPath, [join(packageDir, 'dist', 'cli', 'cli.js'), 'source', 'download', '--gpu', 'false', '--noUsageExample'], {
    cwd: packageDir, env, ...(options.signal != null ? { signal: options.signal } : {})
  })
  const build = localBuilds(packageDir)[0] ?? null
  if (code !== 0 || build == null) {
    throw new PlexusError('PLX_ERR_ENGINE_BUILD', [`the llama.cpp build failed (exit code ${String(code)}; its output is above). The prebuilt binary stays in use`])
  }
  return { built: true, seconds: (performance.now() - started) / 1000, build }
}

/** Which llama.cpp binary a loaded node-llama-cpp uses. */
export interface EngineBinary {
  /** `prebuilt` (what npm installs) or `local build` (`plexus engine build`). */
  binary: 'prebuilt' | 'local build'
  /** The GPU backend, or false for CPU only. */
  gpu: string | false
  /** llama.cpp release of the binary. */
  llamaCpp: string
  /** libuv thread pool size of this process (the launcher sets 1; see bin/plexus.js). */
  uvThreadpoolSize: number
}

/** Describes a Llama instance (from node-llama-cpp's getLlama) as {@link EngineBinary}. */
export function describeBinary (llama: { buildType: 'localBuild' | 'prebuilt', gpu: string | false, llamaCppRelease: { release: string } }): EngineBinary {
  return {
    binary: llama.buildType === 'localBuild' ? 'local build' : 'prebuilt',
    gpu: llama.gpu,
    llamaCpp: llama.llamaCppRelease.release,
    uvThreadpoolSize: uvThreadpoolSize()
  }
}

/** The binary node-llama-cpp picks now, without building: the one a node started afterwards uses (as engine.ts loads it). */
export async function currentBinary (): Promise<EngineBinary> {
  const llama = await getLlama({ gpu: 'auto', build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false })
  const binary = describeBinary(llama)
  await llama.dispose()
  return binary
}

/** The libuv thread pool size this process started with (libuv's default is 4). */
export function uvThreadpoolSize (env: NodeJS.ProcessEnv = process.env): number {
  const n = Number.parseInt(env.UV_THREADPOOL_SIZE ?? '', 10)
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4
}

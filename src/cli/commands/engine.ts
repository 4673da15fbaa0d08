import type { Command } from 'commander'
import { getLlama, LlamaLogLevel } from 'node-llama-cpp'
import { buildEngine, currentBinary, describeBinary, findBuildTools, localBuilds, nodeLlamaCppDir } from '../../inference/engine-build.js'
import { buildNativeLoop, readNativeLoopManifest } from '../../inference/native-loop-build.js'
import { NativeLoop } from '../../inference/native-loop.js'
import { output, table, type GlobalOptions } from '../output.js'

/** What `plexus engine status` reports. */
async function engineStatus (): Promise<Record<string, unknown>> {
  // The same choice the node makes (engine.ts): whatever node-llama-cpp picks without building.
  const llama = await getLlama({ gpu: 'auto', build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false })
  const binary = describeBinary(llama)
  // Whether a node would run plain generations on the native loop (it loads after node-llama-cpp).
  const manifest = readNativeLoopManifest()
  const { loop, reason } = NativeLoop.load(binary)
  await llama.dispose()
  const nativeLoop = { built: manifest != null, usable: loop != null, reason, binary: manifest?.binary ?? null, builtAt: manifest?.builtAt ?? null, libDir: manifest?.libDir ?? null }
  return { ...binary, nodeLlamaCpp: nodeLlamaCppDir(), localBuilds: localBuilds(), nativeLoop, buildTools: findBuildTools() }
}

export function registerEngine (program: Command): void {
  const engine = program
    .command('engine')
    .description('the llama.cpp binary: which one runs, and an optional faster build from source')

  engine
    .command('status')
    .description('show which llama.cpp binary a node uses (prebuilt or local build) and whether a build is possible')
    .action(async (_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const s = await engineStatus()
      const builds = s.localBuilds as ReturnType<typeof localBuilds>
      const tools = s.buildTools as ReturnType<typeof findBuildTools>
      const native = s.nativeLoop as { built: boolean, usable: boolean, reason: string | null, builtAt: string | null }
      output(g.json, s, () => [
        `binary        ${String(s.binary)} (llama.cpp ${String(s.llamaCpp)}, ${s.gpu === false ? 'CPU' : String(s.gpu)})`,
        `libuv pool    ${String(s.uvThreadpoolSize)} thread(s)`,
        `local build   ${builds.length > 0 ? builds.map(b => `${b.name}, built ${b.builtAt}`).join('; ') : 'none (`plexus engine build` makes one)'}`,
        `native loop   ${native.usable ? `built ${native.builtAt ?? ''}, used for plain generations` : `not used: ${native.reason ?? ''}`}`,
        '',
        table(['BUILD TOOL', 'VERSION', 'PROBLEM'], tools.map(t => [t.name, t.version ?? '-', t.problem ?? '-']))
      ].join('\n'))
    })

  engine
    .command('build')
    .description('build llama.cpp from the source node-llama-cpp ships (offline, a few minutes; needs git, cmake, a C++ compiler), then the native generation loop for it')
    .option('--force', 'rebuild even if a build exists')
    .option('--native-loop', 'build only the native generation loop, against the binary in use (seconds)')
    .action(async (opts: { force?: boolean, nativeLoop?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const force = opts.force === true
      if (opts.nativeLoop === true) {
        const r = await buildNativeLoop({ binary: await currentBinary(), force })
        output(g.json, r, () => r.built
          ? `built the native generation loop in ${r.seconds.toFixed(1)} s against the ${r.manifest.binary} binary (${r.manifest.libDir})\nnodes started from now on run plain generations on it (check with \`plexus engine status\`)`
          : `the native generation loop is already built for the ${r.manifest.binary} binary (use --force to rebuild)`)
        return
      }
      const r = await buildEngine({ force })
      // The loop links against the libraries of the binary in use: rebuild it for the new one.
      let nativeLoop: { built: boolean, seconds: number } | { error: string }
      try {
        const n = await buildNativeLoop({ binary: await currentBinary(), force: force || r.built })
        nativeLoop = { built: n.built, seconds: n.seconds }
      } catch (err) {
        nativeLoop = { error: (err as Error).message }
      }
      output(g.json, { ...r, nativeLoop }, () => [
        r.built
          ? `built llama.cpp in ${r.seconds.toFixed(0)} s: ${r.build?.dir ?? ''}\nnodes started from now on use it (check with \`plexus engine status\`)`
          : `a local build already exists: ${r.build?.dir ?? ''} (use --force to rebuild)`,
        'error' in nativeLoop ? `native generation loop not built: ${nativeLoop.error}` : (nativeLoop.built ? `native generation loop rebuilt in ${nativeLoop.seconds.toFixed(1)} s` : 'native generation loop up to date')
      ].join('\n'))
    })
}

import type { Command } from 'commander'
import { getLlama, LlamaLogLevel } from 'node-llama-cpp'
import { buildEngine, describeBinary, findBuildTools, localBuilds, nodeLlamaCppDir } from '../../inference/engine-build.js'
import { output, table, type GlobalOptions } from '../output.js'

/** What `plexus engine status` reports. */
async function engineStatus (): Promise<Record<string, unknown>> {
  // The same choice the node makes (engine.ts): whatever node-llama-cpp picks without building.
  const llama = await getLlama({ gpu: 'auto', build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false })
  const binary = describeBinary(llama)
  await llama.dispose()
  return { ...binary, nodeLlamaCpp: nodeLlamaCppDir(), localBuilds: localBuilds(), buildTools: findBuildTools() }
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
      output(g.json, s, () => [
        `binary        ${String(s.binary)} (llama.cpp ${String(s.llamaCpp)}, ${s.gpu === false ? 'CPU' : String(s.gpu)})`,
        `libuv pool    ${String(s.uvThreadpoolSize)} thread(s)`,
        `local build   ${builds.length > 0 ? builds.map(b => `${b.name}, built ${b.builtAt}`).join('; ') : 'none (`plexus engine build` makes one)'}`,
        '',
        table(['BUILD TOOL', 'VERSION', 'PROBLEM'], tools.map(t => [t.name, t.version ?? '-', t.problem ?? '-']))
      ].join('\n'))
    })

  engine
    .command('build')
    .description('build llama.cpp from the source node-llama-cpp ships (offline, a few minutes; needs git, cmake, a C++ compiler)')
    .option('--force', 'rebuild even if a local build exists')
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const r = await buildEngine({ force: opts.force === true })
      output(g.json, r, () => r.built
        ? `built llama.cpp in ${r.seconds.toFixed(0)} s: ${r.build?.dir ?? ''}\nnodes started from now on use it (check with \`plexus engine status\`)`
        : `a local build already exists: ${r.build?.dir ?? ''} (use --force to rebuild)`)
    })
}

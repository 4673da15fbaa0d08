/**
 * Decode-speed benchmark: llama.cpp's own `llama-bench` (built from the source node-llama-cpp
 * ships) against node-llama-cpp used directly, and, once the node's HTTP API is built, against
 * streaming through POST /v1/completions and /v1/chat/completions.
 *
 * Run: `npm run bench -- inference [--threads 1,2] [--tokens 128] [--reps 3] [--no-http] [--http-rounds 2]
 * [--source-build] [--http-prebuilt] [--native-loop] [--no-nlc-http] [--model PATH ...] [--json]`. Every number is compared with a baseline
 * measured in the same run (ratios), never with a fixed expectation.
 *
 * The `node` column is always the prebuilt binary npm installs (a private copy of the package
 * without local builds). When the project has a local build (`plexus engine build`) — or with
 * `--source-build`, or when `.cache/nlc/` holds one — a further column measures node-llama-cpp
 * built from source (GGML_NATIVE, OpenMP) with `UV_THREADPOOL_SIZE=1`, what the node runs then.
 *
 * When the native generation loop is built (`plexus engine build --native-loop`; `--native-loop`
 * builds it first), the API is measured both on it and on node-llama-cpp's own loop
 * (`PLEXUS_NATIVE_LOOP=false`), at the explicit thread counts, each next to llama-bench.
 *
 * The HTTP part starts the node at each thread count and in auto mode (no `--threads`: it
 * measures at model load) and reports the default/best ratio. With `--http-prebuilt` it also
 * starts the node with the prebuilt copy of node-llama-cpp (explicit thread counts only), so
 * that both binaries are measured through the API where the project has a local build.
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { readGgufFileInfo } from 'node-llama-cpp'
import { ensureBenchModel } from './lib/bench-model.js'
import { httpApiAvailable, measureHttpDecode } from './lib/http-api.js'
import type { HttpDecodeResult } from './lib/http-api.js'
import { ensureNlcPrebuiltCopy } from './lib/nlc-prebuilt.js'
import { currentBinary, localBuilds } from '../src/inference/engine-build.js'
import { buildNativeLoop, readNativeLoopManifest } from '../src/inference/native-loop-build.js'
import { ensureLlamaBench, runLlamaBench } from './lib/llama-bench.js'
import type { LlamaBenchResult } from './lib/llama-bench.js'
import { ensureNlcSourceBuild, nlcCopyDir } from './lib/nlc-source-build.js'
import { measureNodeDecode } from './lib/node-decode.js'
import type { NodeDecodeResult } from './lib/node-decode.js'
import { noiseMark, waitForQuiet } from './lib/quiet.js'
import { fmt, formatTable } from './lib/stats.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

interface Row {
  model: string
  threads: number | 'default'
  llamaBench: LlamaBenchResult | null
  node: NodeDecodeResult | null
  /** Source build + UV_THREADPOOL_SIZE=1, when available. */
  nodeSource: NodeDecodeResult | null
  error?: string
}

async function parameterCount (path: string): Promise<number> {
  const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false })
  return (info.fullTensorInfo ?? []).reduce((a, t) => a + t.dimensions.reduce<number>((x, d) => x * Number(d), 1), 0)
}

function log (line = ''): void {
  process.stdout.write(`${line}\n`)
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      tokens: { type: 'string', default: '128' },
      reps: { type: 'string', default: '3' },
      model: { type: 'string', multiple: true },
      'no-http': { type: 'boolean', default: false },
      'http-rounds': { type: 'string', default: '2' },
      'source-build': { type: 'boolean', default: false },
      'http-prebuilt': { type: 'boolean', default: false },
      'native-loop': { type: 'boolean', default: false },
      'no-nlc-http': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false }
    }
  })
  const cores = availableParallelism()
  const threadCounts = values.threads != null
    ? values.threads.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0)
    : Array.from({ length: cores }, (_, i) => i + 1)
  const tokens = Number(values.tokens)
  const reps = Number(values.reps)
  const nlcVersion = (JSON.parse(await readFile(join(ROOT, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')) as { version: string }).version

  log(`# inference decode benchmark — ${cpus()[0]?.model ?? 'cpu'}, ${cores} cores, Node ${process.version}, node-llama-cpp ${nlcVersion}`)
  log(`  -n ${tokens} tokens, ${reps} repetitions; '*' = other processes used > 0.25 cores meanwhile`)

  const build = await ensureLlamaBench(ROOT)
  log(build.buildS > 0
    ? `llama-bench: built in ${build.buildS.toFixed(0)} s → ${build.binary}`
    : `llama-bench: cached ${build.binary}`)
  const prebuiltEntry = await ensureNlcPrebuiltCopy(ROOT)
  // '' = the project's own node-llama-cpp, which holds a local build.
  let sourceEntry: string | null = null
  if (localBuilds().length > 0) {
    sourceEntry = ''
    log(`node-llama-cpp local build in node_modules (plexus engine build): ${localBuilds()[0]?.dir ?? ''}`)
  } else if (values['source-build'] || existsSync(join(nlcCopyDir(ROOT), 'llama', 'localBuilds'))) {
    const sb = await ensureNlcSourceBuild(ROOT)
    sourceEntry = sb.entry
    log(sb.buildS > 0 ? `node-llama-cpp source build: built in ${sb.buildS.toFixed(0)} s` : 'node-llama-cpp source build: cached in .cache/nlc/')
  }
  if (values['native-loop'] && !values['no-http']) {
    const n = await buildNativeLoop({ binary: await currentBinary() })
    log(n.built ? `native generation loop: built in ${n.seconds.toFixed(1)} s` : `native generation loop: cached (${n.manifest.binary} binary)`)
  }
  const nativeBuilt = readNativeLoopManifest() != null
  const t0 = performance.now()
  const benchModel = await ensureBenchModel(ROOT)
  const genS = (performance.now() - t0) / 1000
  const models = values.model ?? [join(ROOT, 'models', 'stories260K.gguf'), benchModel]
  for (const m of models) {
    const extra = m === benchModel && genS > 0.5 ? ` (generated in ${genS.toFixed(1)} s)` : ''
    log(`model ${basename(m)}: ${(await parameterCount(m) / 1e6).toFixed(2)} M parameters${extra}`)
  }
  log()

  const rows: Row[] = []
  for (const model of models) {
    // node-llama-cpp with no thread options at all, as an app that does not tune it would run.
    const configs: Array<number | 'default'> = [...threadCounts, 'default']
    for (const threads of configs) {
      const row: Row = { model: basename(model), threads, llamaBench: null, node: null, nodeSource: null }
      try {
        if (threads !== 'default') {
          await waitForQuiet()
          row.llamaBench = await runLlamaBench({ binary: build.binary, model, threads, tokens, reps })
        }
        await waitForQuiet()
        row.node = await measureNodeDecode({
          model,
          tokens,
          reps,
          maxSeconds: 8,
          nodeLlamaCpp: prebuiltEntry,
          ...(threads !== 'default' ? { threads } : {})
        })
        if (sourceEntry != null) {
          await waitForQuiet()
          row.nodeSource = await measureNodeDecode({
            model,
            tokens,
            reps,
            maxSeconds: 8,
            ...(sourceEntry !== '' ? { nodeLlamaCpp: sourceEntry } : {}),
            env: { UV_THREADPOOL_SIZE: '1' },
            ...(threads !== 'default' ? { threads } : {})
          })
        }
      } catch (err) {
        row.error = (err as Error).message
      }
      rows.push(row)
      const src = sourceEntry != null ? `, node source build ${fmt(row.nodeSource?.tps)} tok/s` : ''
      log(`  ${row.model} threads=${threads}: llama-bench ${fmt(row.llamaBench?.tps)} tok/s, node ${fmt(row.node?.tps)} tok/s${src}${row.error != null ? ` (error: ${row.error.split('\n')[0] ?? ''})` : ''}`)
    }
  }

  log()
  log('## decode tok/s (node = node-llama-cpp prebuilt, sequence.evaluate; src+uv1 = local build with UV_THREADPOOL_SIZE=1; llama-bench tg)')
  const ratio = (a: { tps: number } | null, b: { tps: number } | null): string => a != null && b != null ? fmt(a.tps / b.tps, 2) : '-'
  const cell = (r: { tps: number, cpuForeign: number | null } | null): string => r != null ? `${fmt(r.tps)}${noiseMark(r.cpuForeign)}` : '-'
  log(formatTable(
    ['model', 'threads', 'llama-bench', 'node', 'node/llama-bench', 'node cpu cores',
      ...(sourceEntry != null ? ['node src+uv1', 'src+uv1/llama-bench'] : [])],
    rows.map((r) => [
      r.model,
      r.threads === 'default' ? `default (${r.node?.threadsUsed ?? '?'})` : String(r.threads),
      cell(r.llamaBench),
      r.node != null ? cell(r.node) : (r.error != null ? 'error' : '-'),
      ratio(r.node, r.llamaBench),
      fmt(r.node?.cpuSelf, 2),
      ...(sourceEntry != null ? [cell(r.nodeSource), ratio(r.nodeSource, r.llamaBench)] : [])
    ])
  ))
  log()
  const best: Record<string, { node: number, threads: number, llamaBench: number, lbThreads: number, source?: number, sourceThreads?: number }> = {}
  for (const model of models.map((m) => basename(m))) {
    const mine = rows.filter((r) => r.model === model && r.threads !== 'default')
    const bn = mine.reduce((a, r) => (r.node?.tps ?? 0) > (a.node?.tps ?? 0) ? r : a, mine[0]!)
    const bl = mine.reduce((a, r) => (r.llamaBench?.tps ?? 0) > (a.llamaBench?.tps ?? 0) ? r : a, mine[0]!)
    best[model] = {
      node: bn.node?.tps ?? 0,
      threads: bn.threads as number,
      llamaBench: bl.llamaBench?.tps ?? 0,
      lbThreads: bl.threads as number
    }
    const b = best[model]!
    let line = `${model}: best node ${fmt(b.node)} tok/s at threads=${b.threads}, best llama-bench ${fmt(b.llamaBench)} at threads=${b.lbThreads}; ratio of bests ${fmt(b.node / b.llamaBench, 2)}`
    if (sourceEntry != null) {
      const bs = mine.reduce((a, r) => (r.nodeSource?.tps ?? 0) > (a.nodeSource?.tps ?? 0) ? r : a, mine[0]!)
      b.source = bs.nodeSource?.tps ?? 0
      b.sourceThreads = bs.threads as number
      line += `; best source build ${fmt(b.source)} at threads=${b.sourceThreads} (${fmt(b.source / b.llamaBench, 2)} of llama-bench)`
    }
    log(line)
  }

  /**
   * `project`: the node as installed (its local build when there is one) on node-llama-cpp's loop;
   * `native`: the same on the native generation loop; `prebuilt`: the prebuilt-only copy.
   */
  type Variant = 'project' | 'native' | 'prebuilt'
  interface HttpRow { model: string, threads: number | 'auto', variant: Variant, result: HttpDecodeResult }
  const http: HttpRow[] = []
  const direct: Record<string, NodeDecodeResult> = {}
  const directPrebuilt: Record<string, NodeDecodeResult> = {}
  const variants: Variant[] = [
    ...(values['no-nlc-http'] && nativeBuilt ? [] : ['project' as const]),
    ...(nativeBuilt ? ['native' as const] : []),
    ...(values['http-prebuilt'] && sourceEntry != null ? ['prebuilt' as const] : [])
  ]
  // llama-bench is re-run next to the first variant measured at each explicit thread count.
  const anchorVariant = variants[0]
  const nativeSummary: Array<{ model: string, threads: number, tps: number, llamaBench: number | null, ratio: number | null, nlc: number | null }> = []
  const defaults: Record<string, { threads: number | null, tps: number, best: number, bestThreads: number | 'auto', ratio: number, llamaBench: number, httpVsLlamaBench: number }> = {}
  log()
  if (values['no-http']) {
    log('HTTP API: skipped (--no-http)')
  } else if (!httpApiAvailable(ROOT)) {
    log('HTTP API: not available yet (dist/src/cli/main.js is missing)')
  } else {
    log('## HTTP streaming (node started by bin/plexus.js, i.e. with its one-thread libuv pool) at each thread count and in auto mode;')
    log('   llama-bench is run again before each explicit thread count, and each keeps its best undisturbed sample')
    const prompt = 'Once upon a time'
    // Rounds are interleaved; each configuration keeps its fastest undisturbed sample (else its
    // fastest), as `threads --rounds` does: other processes only ever slow a measurement down.
    const better = <T extends { cpuForeign: number | null }>(a: T | undefined, b: T, tps: (x: T) => number): T => {
      if (a == null) return b
      const ca = noiseMark(a.cpuForeign) === ''
      const cb = noiseMark(b.cpuForeign) === ''
      if (ca !== cb) return ca ? a : b
      return tps(b) > tps(a) ? b : a
    }
    const completionsTps = (r: HttpDecodeResult): number => r.endpoints.find((e) => e.endpoint === '/v1/completions')?.tps ?? 0
    const rounds = Math.max(1, Number(values['http-rounds']))
    for (let round = 1; round <= rounds; round++) {
      for (const model of models) {
        const name = basename(model)
        try {
          // Direct, same binary and pool as the node, at the best direct thread count: the server overhead.
          const t = best[name]?.sourceThreads ?? best[name]?.threads ?? 1
          await waitForQuiet()
          direct[name] = better(direct[name], await measureNodeDecode({ model, threads: t, tokens, reps, prompt, maxSeconds: 8, env: { UV_THREADPOOL_SIZE: '1' } }), (x) => x.tps)
          if (variants.includes('prebuilt')) {
            await waitForQuiet()
            directPrebuilt[name] = better(directPrebuilt[name], await measureNodeDecode({ model, threads: 1, tokens, reps, prompt, maxSeconds: 8, nodeLlamaCpp: prebuiltEntry, env: { UV_THREADPOOL_SIZE: '1' } }), (x) => x.tps)
          }
          for (const variant of variants) {
            // The prebuilt binary only at one thread: at more it creates threads on every token
            // (finding 2) and a request can take minutes.
            const counts: Array<number | 'auto'> = variant === 'project' ? [...threadCounts, 'auto'] : variant === 'native' ? threadCounts : threadCounts.filter((t) => t === 1)
            for (const threads of counts) {
              const row = rows.find((r) => r.model === name && r.threads === threads)
              if (variant === anchorVariant && row != null && typeof threads === 'number') {
                // llama-bench again in every round, right before the API at the same thread count:
                // on a shared machine a single early llama-bench sample can be far off either way.
                await waitForQuiet()
                const again = await runLlamaBench({ binary: build.binary, model, threads, tokens, reps })
                row.llamaBench = better(row.llamaBench ?? undefined, again, (x) => x.tps)
                log(`  [${round}/${rounds}] ${name} threads=${threads}: llama-bench ${fmt(again.tps)}${noiseMark(again.cpuForeign)} tok/s (kept ${fmt(row.llamaBench.tps)})`)
              }
              await waitForQuiet()
              const result = await measureHttpDecode({
                root: ROOT, model, maxTokens: tokens, reps, prompt,
                ...(threads !== 'auto' ? { threads } : {}),
                ...(variant === 'prebuilt' ? { nodeLlamaCpp: prebuiltEntry } : {}),
                env: { PLEXUS_NATIVE_LOOP: variant === 'native' ? 'true' : 'false' }
              })
              if (result == null) break
              const at = http.findIndex((h) => h.model === name && h.threads === threads && h.variant === variant)
              if (at < 0) http.push({ model: name, threads, variant, result })
              else http[at] = { model: name, threads, variant, result: better(http[at]!.result, result, completionsTps) }
              log(`  [${round}/${rounds}] ${name} threads=${threads}${threads === 'auto' ? ` (picked ${String(result.threads)})` : ''}: /v1/completions ${fmt(completionsTps(result))}${noiseMark(result.cpuForeign)} tok/s, ${result.binary ?? '?'} binary, ${result.nativeLoop === true ? 'native loop' : 'node-llama-cpp loop'}`)
            }
          }
        } catch (err) {
          log(`  ${name}: HTTP API failed: ${(err as Error).message.split('\n').slice(0, 3).join(' | ')}`)
        }
      }
    }
    if (http.length > 0) {
      const lb = (model: string, threads: number | null): number | null =>
        rows.find((r) => r.model === model && r.threads === threads)?.llamaBench?.tps ?? null
      log(formatTable(
        ['model', 'threads', 'binary', 'loop', 'path', 'decode tok/s', 'llama-bench same t', 'HTTP/llama-bench', 'vs direct', 'TTFT ms', 'TTFT − direct ms', 'prompt tok', 'gen tok'],
        http.flatMap((h) => h.result.endpoints.map((e) => {
          const t = h.threads === 'auto' ? h.result.threads : h.threads
          const l = lb(h.model, t)
          const d = h.variant === 'prebuilt' ? directPrebuilt[h.model] : direct[h.model]
          return [h.model, h.threads === 'auto' ? `auto → ${String(t)}` : String(t), h.result.binary ?? '?', h.result.nativeLoop === true ? 'native' : 'nlc', e.endpoint,
            `${fmt(e.tps)}${noiseMark(h.result.cpuForeign)}`, fmt(l), l != null ? fmt(e.tps / l, 2) : '-',
            d != null && t === d.threadsUsed ? fmt(e.tps / d.tps, 2) : '-',
            fmt(e.ttftMs, 1), d != null && t === d.threadsUsed ? fmt(e.ttftMs - d.firstTokenMs, 1) : '-', String(e.promptTokens), String(e.completionTokens)]
        }))
      ))
      log('direct = node-llama-cpp in a plain process with the same binary and UV_THREADPOOL_SIZE=1, same prompt;')
      log('TTFT − direct is the server overhead where the prompt token counts match (/v1/completions);')
      log('for chat it also includes evaluating the chat template\'s extra prompt tokens.')
      for (const [name, d] of [...Object.entries(direct), ...Object.entries(directPrebuilt)]) {
        log(`direct ${name}: ${fmt(d.tps)}${noiseMark(d.cpuForeign)} tok/s at ${d.threadsUsed} threads (${d.binary}), TTFT ${fmt(d.firstTokenMs, 1)} ms`)
      }
      log()
      for (const model of models.map((m) => basename(m))) {
        const mine = http.filter((h) => h.model === model && h.variant === 'project')
        const completions = (h: HttpRow): number => completionsTps(h.result)
        const auto = mine.find((h) => h.threads === 'auto')
        if (auto == null || mine.length === 0) continue
        // Best over the explicit thread counts (the sweep); auto is what is judged against it.
        const swept = mine.filter((h) => h.threads !== 'auto')
        if (swept.length === 0) continue
        const top = swept.reduce((a, h) => completions(h) > completions(a) ? h : a, swept[0]!)
        // Best llama-bench over the first sweep and the samples taken during the HTTP rounds.
        const llamaBench = Math.max(0, ...rows.filter((r) => r.model === model).map((r) => r.llamaBench?.tps ?? 0))
        defaults[model] = {
          threads: auto.result.threads,
          tps: completions(auto),
          best: completions(top),
          bestThreads: top.threads,
          ratio: completions(auto) / completions(top),
          llamaBench,
          httpVsLlamaBench: completions(top) / llamaBench
        }
        const dd = defaults[model]!
        const sameT = typeof top.threads === 'number' ? lb(model, top.threads) : null
        log(`${model}: HTTP /v1/completions best ${fmt(dd.best)} tok/s (threads=${String(dd.bestThreads)}) vs best llama-bench ${fmt(llamaBench)} → ${fmt(dd.httpVsLlamaBench, 2)}` +
          `${sameT != null ? ` (vs llama-bench at the same threads ${fmt(sameT)} → ${fmt(dd.best / sameT, 2)})` : ''}; ` +
          `default (auto → ${String(dd.threads)}) ${fmt(dd.tps)} tok/s, default/best ${fmt(dd.ratio, 2)}`)
      }
      // The native generation loop against llama-bench (same thread count) and node-llama-cpp's loop.
      for (const model of models.map((m) => basename(m))) {
        for (const h of http.filter((x) => x.model === model && x.variant === 'native' && typeof x.threads === 'number')) {
          const t = h.threads as number
          const tps = completionsTps(h.result)
          const l = lb(model, t)
          const nlc = http.find((x) => x.model === model && x.variant === 'project' && x.threads === t)
          nativeSummary.push({ model, threads: t, tps, llamaBench: l, ratio: l != null ? tps / l : null, nlc: nlc != null ? completionsTps(nlc.result) : null })
          log(`${model} threads=${t}: native loop over HTTP ${fmt(tps)}${noiseMark(h.result.cpuForeign)} tok/s vs llama-bench ${fmt(l)} → ${l != null ? fmt(tps / l, 2) : '-'}` +
            (nlc != null ? `; node-llama-cpp loop ${fmt(completionsTps(nlc.result))}${noiseMark(nlc.result.cpuForeign)} → ${l != null ? fmt(completionsTps(nlc.result) / l, 2) : '-'} (native/nlc ${fmt(tps / completionsTps(nlc.result), 2)})` : ''))
        }
      }
    }
  }

  const resultsDir = join(ROOT, '.cache', 'bench-results')
  await mkdir(resultsDir, { recursive: true })
  const file = join(resultsDir, `inference-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  const report = { cores, node: process.version, nodeLlamaCpp: nlcVersion, llamaBenchBuildS: build.buildS, tokens, reps, rows, best, direct, directPrebuilt, http, defaults, native: nativeSummary }
  await writeFile(file, JSON.stringify(report, null, 2))
  log()
  log(`results: ${file}`)
  if (values.json) log(JSON.stringify(report))
}

await main()

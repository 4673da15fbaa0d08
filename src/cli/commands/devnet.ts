import { join } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { resolveDataDir } from '../../node/data-dir.js'
import { DEVNET_LOG_LEVELS as LOG_LEVELS, MAX_DEVNET_NODES, nodeName, startDevnet, stopDevnet, type Devnet, type DevnetNode } from '../../devnet/devnet.js'
import { output, table, type GlobalOptions } from '../output.js'
import { intOption } from '../parse.js'

interface UpOptions {
  nodes: number
  dir?: string
  basePort?: number
  detach?: boolean
  nodeArgs?: string[]
  logLevel: LogLevel
  timeout: number
  threads: number
}

const repeatable = (v: string, acc: string[] = []): string[] => [...acc, v]

type LogLevel = typeof LOG_LEVELS[number]

function logLevelOption (v: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(v)) throw new InvalidArgumentError(`--log-level must be one of ${LOG_LEVELS.join(', ')}.`)
  return v as LogLevel
}

/** Where a devnet lives unless `--dir` says: `<data dir>/devnet`. */
export function defaultDevnetDir (g: GlobalOptions): string {
  return join(resolveDataDir(g.dataDir), 'devnet')
}

/** The nodes of a devnet as a table. */
export function devnetTable (nodes: DevnetNode[]): string {
  return table(['NODE', 'API URL', 'PEER ID', 'PID', 'MODELS'], nodes.map(n => [n.name, n.url ?? '-', n.peerId, n.pid, n.models.length === 0 ? '(none)' : n.models.join(', ')]))
}

/** Stops the devnet on Ctrl+C or SIGTERM (a second signal kills the nodes at once), then exits. */
export function stopOnSignals (devnet: Devnet, done: (message: string) => void, onStop?: () => void): void {
  let signals = 0
  const handler = (): void => {
    signals++
    if (signals > 1) {
      process.stderr.write('plexus: killing the nodes\n')
      void devnet.stop(0).finally(() => { onStop?.(); process.exit(130) })
      return
    }
    process.stderr.write('\nStopping the devnet (each node finishes what it is doing)…\n')
    void devnet.stop().then(r => {
      onStop?.()
      done(`Stopped ${r.stopped.length + r.killed.length} node(s)${r.killed.length > 0 ? ` (${r.killed.length} killed after the grace period)` : ''}.`)
      process.exit(0)
    })
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

/** Parses `--node-args NAME:ARGS` into extra `plexus start` arguments per node. */
function nodeArgsOf (specs: string[], count: number, cmd: Command): Array<{ args: string[] }> {
  const names = Array.from({ length: count }, (_, i) => nodeName(i))
  const out = names.map(() => ({ args: [] as string[] }))
  for (const spec of specs) {
    const colon = spec.indexOf(':')
    const name = colon < 0 ? '' : spec.slice(0, colon)
    const index = names.indexOf(name)
    if (index < 0) cmd.error(`error: --node-args must be NODE:ARGS with NODE one of ${names.length > 6 ? `${names.slice(0, 3).join(', ')} … ${names[names.length - 1] as string}` : names.join(', ')} (got '${spec.slice(0, 80)}')`, { exitCode: 2 })
    if (spec.length > 4096) cmd.error('error: --node-args is limited to 4096 characters', { exitCode: 2 })
    out[index]?.args.push(...spec.slice(colon + 1).trim().split(/\s+/).filter(a => a !== ''))
  }
  return out
}

export function registerDevnet (program: Command): void {
  const devnet = program.command('devnet').description('a local test network: several nodes on 127.0.0.1, bootstrapped to each other')

  devnet
    .command('up')
    .description('start N nodes on 127.0.0.1 with their own data directories; Ctrl+C stops them all')
    .option('--nodes <n>', `how many nodes (1 to ${MAX_DEVNET_NODES})`, intOption('--nodes', 1, MAX_DEVNET_NODES), 3)
    .option('--dir <dir>', 'directory for the nodes\' data, logs and devnet.json (default: <data dir>/devnet)')
    .option('--base-port <p>', 'API ports P, P+1, …; p2p ports P+100, P+101, … (default: free ports)', intOption('--base-port', 1, 65535))
    .option('--node-args <node:args>', 'extra `plexus start` arguments for one node, e.g. "A:--no-embedded-model" (repeatable)', repeatable)
    .option('--detach', 'leave the nodes running and exit (stop them with `plexus devnet down`)')
    .option('--timeout <s>', 'seconds the nodes may take to start and find each other', intOption('--timeout', 1, 3600), 180)
    .option('--threads <n>', 'threads per evaluation in each node (0 = measured per node)', intOption('--threads', 0, 512), 1)
    .option('--log-level <level>', 'log level of the nodes (logs go to DIR/<node>.log)', logLevelOption, 'info')
    .action(async (opts: UpOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      if (opts.basePort != null && opts.basePort + 100 + opts.nodes - 1 > 65535) {
        cmd.error(`error: --base-port must be at most ${65535 - 100 - opts.nodes + 1} for ${opts.nodes} node(s)`, { exitCode: 2 })
      }
      const specs = nodeArgsOf(opts.nodeArgs ?? [], opts.nodes, cmd)
      const abort = new AbortController()
      const onSignal = (): void => abort.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      const net = await startDevnet({
        dir: opts.dir ?? defaultDevnetDir(g),
        nodes: specs,
        basePort: opts.basePort,
        logLevel: opts.logLevel,
        threads: opts.threads,
        timeoutSeconds: opts.timeout
      }, { signal: abort.signal, onProgress: g.json === true ? undefined : m => process.stderr.write(`devnet: ${m}\n`) })
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      const detached = opts.detach === true
      output(g.json, { ...net.toJSON(), detached }, () => [
        `Devnet ${net.networkId} is up: ${net.nodes.length} node(s) on 127.0.0.1, data in ${net.dir}.`,
        devnetTable(net.nodes),
        `Logs: ${join(net.dir, '<node>.log')}. Talk to a node with --data-dir ${join(net.dir, '<node>')}, e.g. plexus peers --data-dir ${net.nodes[0]?.dataDir ?? ''}`,
        detached ? `Left running; stop it with: plexus devnet down --dir ${net.dir}` : 'Press Ctrl+C to stop the devnet.'
      ].join('\n'))
      if (detached) {
        net.detach()
        return
      }
      let left = net.nodes.length
      let failed = false
      net.onExit((node, code, signal) => {
        left--
        failed ||= code !== 0
        process.stderr.write(`plexus: node ${node.name} (pid ${node.pid}) exited (${code != null ? `code ${code}` : signal ?? 'unknown'}); its log: ${node.logFile}\n`)
        if (left === 0) {
          process.stderr.write('plexus: every node of the devnet has stopped\n')
          void net.stop(0).then(() => process.exit(failed ? 1 : 0))
        }
      })
      stopOnSignals(net, m => process.stderr.write(m + '\n'))
    })

  devnet
    .command('down')
    .description('stop a devnet started with --detach (SIGTERM, then SIGKILL for nodes that do not exit)')
    .option('--dir <dir>', 'the devnet\'s directory (default: <data dir>/devnet)')
    .action(async (opts: { dir?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const r = await stopDevnet(opts.dir ?? defaultDevnetDir(g))
      const n = r.stopped.length + r.killed.length
      output(g.json, r, () => `Stopped devnet ${r.networkId}: ${n} node(s)${r.killed.length > 0 ? `, ${r.killed.length} of them killed after the grace period` : ''}${r.gone.length > 0 ? `; ${r.gone.join(', ')} had already stopped` : ''}.`)
    })
}

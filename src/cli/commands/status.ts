import type { Command } from 'commander'
import type { NodeStatus } from '../../api/plexus/routes.js'
import { nodeFor, callNode } from '../client.js'
import { output, table, formatBytes, type GlobalOptions } from '../output.js'

export function registerStatus (program: Command): void {
  program
    .command('status')
    .description('show the running node: address, models, loaded models, queue')
    .option('--url <url>', 'node to ask (default: the one running on the data directory; or PLEXUS_URL)')
    .action(async (opts: { url?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const target = nodeFor(opts, g)
      const s = await callNode<NodeStatus>(target, 'GET', '/api/plexus/status')
      output(g.json, s, () => [
        `node        ${s.nodeId} (Plexus ${s.version}, pid ${s.pid}, up ${s.uptimeSeconds}s)`,
        `url         ${s.url ?? target.url}`,
        `data dir    ${s.dataDir}`,
        `inference   ${s.threads} thread(s), ${s.parallel} parallel sequence(s), context ${s.contextSize}, budget ${s.memoryBudgetMiB} MiB`,
        `native loop ${s.nativeLoop.active ? `in use (${s.nativeLoop.binary ?? ''} binary)` : `not in use: ${s.nativeLoop.reason ?? ''}`}`,
        `queue       ${s.queue.active} running, ${s.queue.waiting} waiting`,
        `api keys    ${s.auth.activeKeys} active`,
        `default     ${s.defaultModel ?? '(none)'}`,
        '',
        table(['MODEL', 'LOADED', 'MEMORY', 'ACTIVE', 'WAITING'], s.models.map(m => {
          const l = s.loaded.find(x => x.name === m.name)
          return [m.name, l != null ? 'yes' : 'no', l != null ? formatBytes(l.memoryBytes) : '-', l?.active ?? '-', l?.waiting ?? '-']
        }))
      ].join('\n'))
    })
}

import type { Command } from 'commander'
import { ApiKeyStore } from '../../auth/keys.js'
import { ensureDataDir, resolveDataDir } from '../../node/data-dir.js'
import { output, table, type GlobalOptions } from '../output.js'
import { intOption } from '../parse.js'

function store (g: GlobalOptions): ApiKeyStore {
  return new ApiKeyStore(ensureDataDir(resolveDataDir(g.dataDir)).apiKeys)
}

export function registerKeys (program: Command): void {
  const keys = program.command('keys').description('manage API keys (stored hashed; once one exists, every request needs one)')

  keys
    .command('create <name>')
    .description('create a key; it is shown once')
    .option('--rate-limit <n>', 'requests per minute for this key (default: the node\'s api.rateLimitPerMinute)', intOption('--rate-limit', 1, 1_000_000))
    .action((name: string, opts: { rateLimit?: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const { key, info } = store(g).create(name, { rateLimitPerMinute: opts.rateLimit })
      output(g.json, { key, ...info }, () => `${key}\n\nThis is the only time the key is shown. Use it as \`Authorization: Bearer <key>\` (or PLEXUS_API_KEY for the CLI).`)
    })

  keys
    .command('list')
    .alias('ls')
    .description('list keys (never their secrets)')
    .action((_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const list = store(g).list()
      output(g.json, list, () => list.length === 0
        ? 'No API keys: the node accepts requests on loopback without one.'
        : table(['ID', 'NAME', 'KEY', 'CREATED', 'STATUS', 'RATE/MIN'], list.map(k => [
          k.id, k.name, `${k.hint}…`, k.createdAt.slice(0, 19).replace('T', ' '), k.revokedAt != null ? 'revoked' : 'active', k.rateLimitPerMinute ?? 'default'
        ])))
    })

  keys
    .command('revoke <idOrName>')
    .description('revoke a key by id or name (a running node stops accepting it at once)')
    .action((idOrName: string, _opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const info = store(g).revoke(idOrName)
      output(g.json, info, () => `revoked ${info.name} (${info.id})`)
    })
}

import type { Command } from 'commander'
import { initDataDir } from '../../node/node.js'
import { resolveDataDir } from '../../node/data-dir.js'
import { output, type GlobalOptions } from '../output.js'

export function registerInit (program: Command): void {
  program
    .command('init')
    .description('create the data directory, config file and node identity (Ed25519 key, mode 0600)')
    .action((_opts, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const dataDir = resolveDataDir(g.dataDir)
      const r = initDataDir(dataDir)
      const pub = Buffer.from(r.identity.publicKey).toString('base64url')
      output(g.json, { dataDir, config: r.paths.config, identity: r.paths.identity, nodeId: r.identity.fingerprint, publicKey: pub, createdIdentity: r.createdIdentity, createdConfig: r.createdConfig }, () => [
        `data directory  ${dataDir}`,
        `config          ${r.paths.config}${r.createdConfig ? ' (created)' : ''}`,
        `identity        ${r.paths.identity}${r.createdIdentity ? ' (created)' : ' (existing)'}`,
        `node id         ${r.identity.fingerprint}`
      ].join('\n'))
    })
}

// libp2p (joining in a later layer) calls Promise.withResolvers, which Node 20 lacks.
import '../polyfills.js'
import { Command, CommanderError } from 'commander'
import { PACKAGE_VERSION } from '../paths.js'
import { fail } from './output.js'
import { registerInit } from './commands/init.js'
import { registerStart } from './commands/start.js'
import { registerModels } from './commands/models.js'
import { registerChat } from './commands/chat.js'
import { registerStatus } from './commands/status.js'
import { registerKeys } from './commands/keys.js'
import { registerCabinet } from './commands/cabinet.js'
import { registerEngine } from './commands/engine.js'
import { registerNetwork, registerPeers } from './commands/network.js'
import { registerDevnet } from './commands/devnet.js'
import { registerDemo } from './commands/demo.js'
import { registerData } from './commands/data.js'
import { registerFl } from './commands/fl.js'
import { registerStats, registerStatsOwner } from './commands/stats.js'
import { registerLedger } from './commands/ledger.js'
import { registerGov } from './commands/gov.js'

const program = new Command()
program
  .name('plexus')
  .description('A Plexus node: local models behind OpenAI- and Ollama-compatible APIs.')
  .version(PACKAGE_VERSION)
  .option('--data-dir <dir>', 'data directory (default: $PLEXUS_DATA_DIR, else $XDG_DATA_HOME/plexus)')
  .option('--json', 'machine-readable output')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()

registerInit(program)
registerStart(program)
registerModels(program)
registerChat(program)
registerStatus(program)
registerKeys(program)
registerCabinet(program)
registerEngine(program)
registerPeers(program)
registerNetwork(program)
registerDevnet(program)
registerDemo(program)
registerData(program)
registerStatsOwner(program.commands.find(c => c.name() === 'data')!)
registerFl(program)
registerStats(program)
registerLedger(program)
registerGov(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed the message (or the help/version text).
    process.exit(err.exitCode === 0 ? 0 : 2)
  }
  fail(err, process.argv.includes('--json'))
}

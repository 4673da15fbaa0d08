import type { Command } from 'commander'
import { PlexusNode } from '../../node/node.js'
import { resolveDataDir } from '../../node/data-dir.js'
import { createLogger } from '../../logger.js'
import { fail, type GlobalOptions } from '../output.js'
import { intOption } from '../parse.js'

interface StartOptions {
  host?: string
  port?: number
  model?: string[]
  threads?: number
  parallel?: number
  contextSize?: number
  logLevel?: string
}

export function registerStart (program: Command): void {
  program
    .command('start')
    .description('run the node in the foreground (initialises the data directory if needed)')
    .option('--host <host>', 'address to bind (default 127.0.0.1; any other needs an API key)')
    .option('--port <n>', 'API port (0 picks a free one)', intOption('--port', 0, 65535))
    .option('--model <path>', 'GGUF model to register and serve (repeatable; the first is the default)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--threads <n>', 'CPU threads per evaluation (0 = measured default)', intOption('--threads', 0, 512))
    .option('--parallel <n>', 'sequences decoded in parallel per model', intOption('--parallel', 1, 64))
    .option('--context-size <n>', 'context window per sequence, in tokens', intOption('--context-size', 64, 1_048_576))
    .option('--log-level <level>', 'fatal, error, warn, info, debug or silent', 'info')
    .action(async (opts: StartOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const logger = createLogger({ level: opts.logLevel as 'info' })
      let node: PlexusNode
      try {
        node = await PlexusNode.create({
          dataDir: resolveDataDir(g.dataDir),
          models: opts.model,
          logger,
          config: {
            api: { host: opts.host, port: opts.port },
            inference: { threads: opts.threads, parallel: opts.parallel, contextSize: opts.contextSize }
          }
        })
        const url = await node.start()
        const model = node.status().defaultModel
        if (g.json === true) process.stdout.write(JSON.stringify({ url, openai: `${url}/v1`, ollama: url, nodeId: node.identity.fingerprint, dataDir: node.paths.root, defaultModel: model }) + '\n')
        else process.stdout.write(`Plexus node ${node.identity.fingerprint} is up.\n  OpenAI API  ${url}/v1\n  Ollama API  ${url}/api\n  model       ${model ?? '(none)'}\n  data        ${node.paths.root}\nPress Ctrl+C to stop.\n`)
      } catch (err) {
        fail(err, g.json)
      }
      let signals = 0
      const shutdown = (signal: string): void => {
        signals++
        if (signals > 1) { process.stderr.write('plexus: forced exit\n'); process.exit(130) }
        logger.info({ signal }, 'shutting down: finishing in-flight requests')
        node.stop({ graceMs: 10_000 }).then(() => process.exit(0), err => fail(err, g.json))
      }
      process.on('SIGINT', () => shutdown('SIGINT'))
      process.on('SIGTERM', () => shutdown('SIGTERM'))
    })
}

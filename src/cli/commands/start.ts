import { InvalidArgumentError, type Command } from 'commander'
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
  p2p?: boolean
  p2pHost?: string
  p2pPort?: number
  bootstrap?: string[]
  mdns?: boolean
  network?: string
  pskFile?: string
  serve?: boolean
  defaultPrivacy?: 'private' | 'community' | 'cloud'
  embeddedModel?: boolean
}

const repeatable = (v: string, acc: string[] = []): string[] => [...acc, v]

function parsePrivacy (v: string | undefined): 'private' | 'community' | 'cloud' | undefined {
  if (v == null) return undefined
  if (v !== 'private' && v !== 'community' && v !== 'cloud') throw new InvalidArgumentError('--default-privacy must be private, community or cloud')
  return v
}

export function registerStart (program: Command): void {
  program
    .command('start')
    .description('run the node in the foreground (initialises the data directory if needed)')
    .option('--host <host>', 'address to bind (default 127.0.0.1; any other needs an API key)')
    .option('--port <n>', 'API port (0 picks a free one)', intOption('--port', 0, 65535))
    .option('--model <path>', 'GGUF model to register and serve (repeatable; the first is the default)', repeatable)
    .option('--no-embedded-model', 'do not register the embedded stories260K model on a data directory without models')
    .option('--threads <n>', 'CPU threads per evaluation (0 = measured default)', intOption('--threads', 0, 512))
    .option('--parallel <n>', 'sequences decoded in parallel per model', intOption('--parallel', 1, 64))
    .option('--context-size <n>', 'context window per sequence, in tokens', intOption('--context-size', 64, 1_048_576))
    .option('--p2p-port <n>', 'TCP port of the peer-to-peer host (default 11436; 0 picks a free one)', intOption('--p2p-port', 0, 65535))
    .option('--p2p-host <host>', 'address the peer-to-peer host listens on (default 0.0.0.0)')
    .option('--bootstrap <multiaddr>', 'peer to join at start, /ip4/…/tcp/…/p2p/<peer id> (repeatable)', repeatable)
    .option('--no-mdns', 'do not look for peers on the local network (multicast DNS)')
    .option('--network <id>', 'network id: nodes only talk within the same one (default plexus)')
    .option('--psk-file <path>', 'pre-shared swarm key: a private network only its holders can join')
    .option('--no-serve', 'do not serve community requests from peers')
    .option('--no-p2p', 'run without the peer-to-peer host (an island: only local models)')
    .option('--default-privacy <level>', 'privacy level of requests that do not say: private (default), community or cloud')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or silent', 'info')
    .action(async (opts: StartOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const logger = createLogger({ level: opts.logLevel as 'info' })
      let node: PlexusNode
      try {
        node = await PlexusNode.create({
          dataDir: resolveDataDir(g.dataDir),
          models: opts.model,
          embeddedModel: opts.embeddedModel,
          logger,
          config: {
            api: { host: opts.host, port: opts.port },
            inference: { threads: opts.threads, parallel: opts.parallel, contextSize: opts.contextSize },
            network: {
              // Commander sets negatable flags to true when absent: pass only what was given.
              enabled: opts.p2p === false ? false : undefined,
              host: opts.p2pHost,
              port: opts.p2pPort,
              bootstrap: opts.bootstrap,
              mdns: opts.mdns === false ? false : undefined,
              networkId: opts.network,
              pskFile: opts.pskFile,
              community: { serve: opts.serve === false ? false : undefined }
            },
            router: { defaultPrivacy: parsePrivacy(opts.defaultPrivacy) }
          }
        })
        const url = await node.start()
        const status = node.status()
        const model = status.defaultModel
        const p2p = status.network
        if (g.json === true) {
          process.stdout.write(JSON.stringify({ url, openai: `${url}/v1`, ollama: url, nodeId: node.identity.fingerprint, dataDir: node.paths.root, defaultModel: model, peerId: p2p?.peerId ?? null, multiaddrs: p2p?.multiaddrs ?? [], networkId: p2p?.networkId ?? null }) + '\n')
        } else {
          const lines = [
            `Plexus node ${node.identity.fingerprint} is up.`,
            `  OpenAI API  ${url}/v1`,
            `  Ollama API  ${url}/api`,
            `  model       ${model ?? '(none)'}`,
            p2p != null ? `  peer id     ${p2p.peerId} (network ${p2p.networkId})` : '  network     off',
            ...(p2p?.multiaddrs ?? []).map(a => `  p2p         ${a}`),
            `  data        ${node.paths.root}`,
            'Press Ctrl+C to stop.'
          ]
          process.stdout.write(lines.join('\n') + '\n')
        }
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

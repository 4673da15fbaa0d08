import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { PlexusError } from '../../errors.js'
import { EMBEDDED_MODEL } from '../../paths.js'
import { startDevnet, type Devnet } from '../../devnet/devnet.js'
import { callNode, errorMessage, type NodeTarget } from '../client.js'
import { output } from '../output.js'
import type { GlobalOptions } from '../output.js'
import { intOption } from '../parse.js'
import { devnetTable, stopOnSignals } from './devnet.js'
import { describeNetworkStatus, fetchNetworkStatus, fetchPeers, peersTable, shortPeerId } from './network.js'

interface DemoOptions {
  dir?: string
  basePort?: number
  exit?: boolean
  timeout: number
}

const MODEL = EMBEDDED_MODEL.name
const REQUEST = { model: MODEL, prompt: 'Once upon a time', max_tokens: 48, seed: 42 }

interface Answer { status: number, body: unknown }

/** POST /v1/completions on a node, with or without the community privacy header. */
async function complete (target: NodeTarget, community: boolean): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (target.token != null) headers.authorization = `Bearer ${target.token}`
  if (community) headers['x-plexus-privacy'] = 'community'
  const res = await fetch(`${target.url}/v1/completions`, { method: 'POST', headers, body: JSON.stringify(REQUEST) })
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body }
}

function indent (text: string, by = '   '): string {
  return text.split('\n').map(l => by + l).join('\n')
}

/** The demo's steps on a started devnet; prints as it goes and returns what it saw. */
async function tour (devnet: Devnet, say: (line?: string) => void): Promise<Record<string, unknown>> {
  const a = devnet.target('A')
  const names = new Map(devnet.nodes.map(n => [n.peerId, n.name]))
  const nameOf = (peerId: string): string => names.get(peerId) ?? shortPeerId(peerId)

  say()
  say(`2. Capability adverts. Each node signs and gossips what it offers; node A now knows:`)
  for (const p of await fetchPeers(a)) {
    say(`   ${nameOf(p.peerId)} (${shortPeerId(p.peerId)}): ${p.models.length === 0 ? 'no models' : p.models.map(m => m.name).join(', ')}, ${p.community.accepts ? 'serves community requests' : 'does not serve peers'}`)
  }

  // B and C load the model now, so that the request below does not wait for a load.
  await Promise.all(devnet.nodes.filter(n => n.models.includes(MODEL)).map(async n => await callNode(devnet.target(n.name), 'POST', `/api/plexus/models/${MODEL}/load`)))

  say()
  say(`3. A community request to node A, which has no model (header X-Plexus-Privacy: community):`)
  say(`   POST ${a.url}/v1/completions ${JSON.stringify(REQUEST)}`)
  const community = await complete(a, true)
  const served = community.body as { choices?: Array<{ text?: string }>, plexus?: { route?: { kind: string, peers: string[] } } }
  const route = served.plexus?.route
  if (community.status !== 200 || route == null) throw new PlexusError('PLX_ERR_INTERNAL', [`the community request to node A failed with HTTP ${community.status}: ${errorMessage(community.status, community.body)}`])
  const text = served.choices?.[0]?.text ?? ''
  say(`   → HTTP 200, served by ${route.kind === 'peer' ? `peer ${route.peers.map(nameOf).join(' then ')}` : route.kind}`)
  say(`   plexus.route = ${JSON.stringify(route)}`)
  say(`   text: "${REQUEST.prompt}${text}"`)

  say()
  say(`4. The same request as private, the default (no header): private work never leaves its node.`)
  const refusal = await complete(a, false)
  const code = (refusal.body as { error?: { code?: string } }).error?.code ?? null
  say(`   → HTTP ${refusal.status} ${code ?? ''}: ${errorMessage(refusal.status, refusal.body)}`)
  if (refusal.status !== 503) throw new PlexusError('PLX_ERR_INTERNAL', [`the private request to node A was expected to be refused with 503, got HTTP ${refusal.status}`])

  say()
  say('5. Network status of node A (`plexus network status` and `plexus peers`):')
  const status = await fetchNetworkStatus(a)
  const peers = await fetchPeers(a)
  say(indent(describeNetworkStatus(status)))
  say()
  say(indent(peersTable(peers, names)))
  return {
    community: { status: community.status, route, servedBy: route.peers.map(nameOf), text },
    private: { status: refusal.status, code, message: errorMessage(refusal.status, refusal.body) },
    network: status,
    peers
  }
}

function explore (devnet: Devnet, temporary: boolean): string {
  const [a, b] = devnet.nodes
  return [
    '',
    `Keep exploring (the nodes are open on 127.0.0.1 without a key${temporary ? '; their data directories go away when the demo stops' : ''}):`,
    ...devnet.nodes.map(n => `   node ${n.name}  ${n.url ?? ''}/v1  (OpenAI API; Ollama API at ${n.url ?? ''}/api)  data: ${n.dataDir}`),
    '',
    `   curl ${a?.url ?? ''}/v1/chat/completions -H 'content-type: application/json' -H 'X-Plexus-Privacy: community' \\`,
    `     -d '{"model":"${MODEL}","messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":60}'`,
    `   npx plexus peers --data-dir ${a?.dataDir ?? ''}`,
    `   npx plexus network status --data-dir ${a?.dataDir ?? ''}`,
    `   npx plexus chat --data-dir ${b?.dataDir ?? ''}`
  ].join('\n')
}

export function registerDemo (program: Command): void {
  program
    .command('demo')
    .description('a guided tour of the network on a 3-node devnet: a community request served by a peer, a private one refused, the network status')
    .option('--dir <dir>', 'an empty or new directory for the three nodes (default: a temporary one, removed at the end)')
    .option('--base-port <p>', 'API ports P, P+1, P+2 and p2p ports P+100… (default: free ports)', intOption('--base-port', 1, 65433))
    .option('--exit', 'stop the devnet after the steps instead of running until Ctrl+C')
    .option('--timeout <s>', 'seconds the nodes may take to start and find each other', intOption('--timeout', 1, 3600), 180)
    .action(async (opts: DemoOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      if (opts.dir != null && existsSync(opts.dir) && readdirSync(opts.dir).length > 0) {
        cmd.error(`error: --dir ${opts.dir} is not empty; the demo needs fresh nodes (give a new or empty directory)`, { exitCode: 2 })
      }
      const dir = opts.dir != null ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'plexus-demo-'))
      const cleanUp = (): void => { if (opts.dir == null) rmSync(dir, { recursive: true, force: true }) }
      const say = (line = ''): void => { if (g.json !== true) process.stdout.write(line + '\n') }

      say('Plexus demo: three nodes on this machine, talking over libp2p on 127.0.0.1 only.')
      say(`Node A has no model; nodes B and C have the embedded ${MODEL}.`)
      say()
      say('1. Starting the devnet (each node is a `plexus start` process with its own data directory)…')
      const abort = new AbortController()
      const onSignal = (): void => abort.abort()
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      let devnet: Devnet
      try {
        devnet = await startDevnet({
          dir,
          nodes: [{ name: 'A', args: ['--no-embedded-model'] }, { name: 'B' }, { name: 'C' }],
          basePort: opts.basePort,
          logLevel: 'warn',
          timeoutSeconds: opts.timeout
        }, { signal: abort.signal, onProgress: m => say(`   ${m}`) })
      } catch (err) {
        cleanUp()
        throw err
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
      // From here on a signal stops the nodes and ends the demo, whatever step it is at.
      stopOnSignals(devnet, m => say(m), cleanUp)
      say()
      say(indent(devnetTable(devnet.nodes)))

      let seen: Record<string, unknown>
      try {
        seen = await tour(devnet, say)
      } catch (err) {
        await devnet.stop()
        cleanUp()
        throw err
      }
      output(g.json, { dir, networkId: devnet.networkId, nodes: devnet.nodes, ...seen }, () => explore(devnet, opts.dir == null))

      if (opts.exit === true) {
        await devnet.stop()
        cleanUp()
        say('\nThe demo is over; the devnet is stopped.')
        process.exit(0)
      }
      say('\nPress Ctrl+C to stop the three nodes.')
    })
}

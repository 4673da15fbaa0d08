import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { PlexusError } from '../../errors.js'
import { EMBEDDED_MODEL, PACKAGE_ROOT } from '../../paths.js'
import { startDevnet, type Devnet } from '../../devnet/devnet.js'
import { callNode, errorMessage, type NodeTarget } from '../client.js'
import { output } from '../output.js'
import type { GlobalOptions } from '../output.js'
import { intOption } from '../parse.js'
import { devnetTable, stopOnSignals } from './devnet.js'
import { describeNetworkStatus, fetchNetworkStatus, fetchPeers, peersTable, shortPeerId } from './network.js'
import { describeResult } from './stats.js'
import { loadDiabetes, DIABETES_COLUMNS } from '../../analytics/diabetes.js'
import type { QueryAnswer } from '../../analytics/service.js'

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
async function tour (devnet: Devnet, dir: string, say: (line?: string) => void): Promise<Record<string, unknown>> {
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

  const federated = await clinics(devnet, dir, say)
  const statistics = await research(devnet, dir, say)
  return {
    community: { status: community.status, route, servedBy: route.peers.map(nameOf), text },
    private: { status: refusal.status, code, message: errorMessage(refusal.status, refusal.body) },
    network: status,
    peers,
    federated,
    statistics
  }
}

const FEATURES = Array.from({ length: 30 }, (_, i) => `f${i}`)

/**
 * Step 6: the three nodes are clinics, each with a third of the breast cancer patients (a
 * stratified split of datasets/breast_cancer.csv). A proposes a job; the owners of B and C approve
 * it; they train a classifier together and only model updates travel.
 */
async function clinics (devnet: Devnet, dir: string, say: (line?: string) => void): Promise<Record<string, unknown>> {
  say()
  say('6. Federated learning: A, B and C are clinics, each holding a third of the Wisconsin breast')
  say('   cancer patients. They train one classifier together; the patients never leave their clinic.')
  const rows = readFileSync(join(PACKAGE_ROOT, 'datasets', 'breast_cancer.csv'), 'utf8').trim().split('\n').slice(1)
  const byClass = [0, 1].map(label => rows.filter(r => r.endsWith(`,${label}`)))
  const header = [...FEATURES, 'diagnosis'].join(',')
  for (const [i, node] of devnet.nodes.entries()) {
    const mine = byClass.flatMap(group => group.filter((_, k) => k % devnet.nodes.length === i))
    const file = join(dir, `clinic-${node.name}.csv`)
    writeFileSync(file, [header, ...mine].join('\n') + '\n')
    await callNode(devnet.target(node.name), 'POST', '/api/plexus/data', { name: 'patients', path: file })
    say(`   clinic ${node.name}: plexus data add patients ${file}  (${mine.length} patients)`)
  }
  const spec = {
    name: 'breast-cancer', model: { kind: 'logistic' }, dataset: { name: 'patients', features: FEATURES, label: 'diagnosis' }, classes: 2,
    rounds: 8, clients: { fraction: 1, min: 3 }, local: { epochs: 1, batchSize: 16, learningRate: 0.1 }, secureAggregation: { enabled: true }, seed: 1
  }
  const a = devnet.target('A')
  const job = await callNode<{ id: string }>(a, 'POST', '/api/plexus/fl/jobs', spec)
  say(`   A proposes job ${job.id}: logistic regression, 8 rounds, FedAvg with secure aggregation (A learns only the sum of the updates).`)
  for (const node of devnet.nodes.filter(n => n.name !== 'A')) {
    const target = devnet.target(node.name)
    for (let i = 0; i < 100; i++) {
      const list = await callNode<{ participating: Array<{ jobId: string, status: string }> }>(target, 'GET', '/api/plexus/fl/jobs')
      if (list.participating.some(p => p.jobId === job.id)) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    await callNode(target, 'POST', `/api/plexus/fl/offers/${job.id}/join`)
    say(`   clinic ${node.name}'s owner approves: plexus fl join ${job.id}`)
  }
  let result: { job: { status: string, reason: string | null, lastAccuracy: number | null }, history: Array<{ round: number, contributed: string[], trainLoss: number | null, evaluation: { accuracy: number } | null }> }
  let shown = 0
  while (true) {
    result = await callNode(a, 'GET', `/api/plexus/fl/jobs/${job.id}`)
    for (const r of result.history.slice(shown)) {
      say(`   round ${r.round}: ${r.contributed.length} clinics, training loss ${r.trainLoss?.toFixed(3) ?? '-'}, held-out accuracy ${r.evaluation != null ? (100 * r.evaluation.accuracy).toFixed(1) + ' %' : '-'}`)
    }
    shown = result.history.length
    if (!['inviting', 'running'].includes(result.job.status)) break
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  if (result.job.status !== 'completed') throw new PlexusError('PLX_ERR_INTERNAL', [`the federated job ended ${result.job.status}: ${result.job.reason ?? ''}`])
  say(`   → done: ${(100 * (result.job.lastAccuracy ?? 0)).toFixed(1)} % accuracy on the clinics' held-out patients. Follow a job live with plexus fl watch JOB.`)
  return { jobId: job.id, rounds: result.history.length, accuracy: result.job.lastAccuracy }
}

/**
 * Step 7: the nodes are research sites, each holding a third of the diabetes patients (Efron et
 * al., 2004). A asks statistics; each site answers only with aggregates that pass its disclosure
 * control, or refuses.
 */
async function research (devnet: Devnet, dir: string, say: (line?: string) => void): Promise<Record<string, unknown>> {
  say()
  say('7. Federated statistics: the three nodes are research sites, each with a third of the 442')
  say('   diabetes patients. A asks questions; only aggregates that pass each site\'s disclosure control leave.')
  const { rows } = loadDiabetes()
  const header = [...DIABETES_COLUMNS, 'progression']
  for (const [i, node] of devnet.nodes.entries()) {
    const file = join(dir, `site-${node.name}.csv`)
    const mine = rows.filter((_r, k) => k % devnet.nodes.length === i)
    writeFileSync(file, [header.join(','), ...mine.map(r => header.map(h => r[h as keyof typeof r]).join(','))].join('\n') + '\n')
    await callNode(devnet.target(node.name), 'POST', '/api/plexus/data', { name: 'diabetes', path: file })
    say(`   site ${node.name}: plexus data add diabetes ${file}  (${mine.length} patients)`)
  }
  const a = devnet.target('A')
  const names = new Map(devnet.nodes.map(n => [n.peerId, n.name]))
  const nameOf = (peerId: string): string => names.get(peerId) ?? shortPeerId(peerId)
  const ask = async (label: string, body: Record<string, unknown>): Promise<QueryAnswer> => {
    say()
    say(`   ${label}`)
    const answer = await callNode<QueryAnswer>(a, 'POST', '/api/plexus/stats/query', { dataset: 'diabetes', ...body })
    if (answer.pooled != null) say(indent(describeResult(answer.pooled), '     '))
    for (const site of answer.sites.filter(x => x.status !== 'ok')) say(`     site ${nameOf(site.peer)} ${site.status}: ${site.message ?? ''}`)
    return answer
  }
  const mean = await ask('plexus stats query --dataset diabetes --fn mean --col bmi,bp --by sex --secure', { fn: 'mean', columns: ['bmi', 'bp'], by: 'sex', secure: true })
  const model = await ask('plexus stats query --dataset diabetes --fn glm --family binomial --success 2 --col sex,bmi,s4,s5   (logistic regression, federated IRLS)', { fn: 'glm', family: 'binomial', success: 2, columns: ['sex', 'bmi', 's4', 's5'] })
  const refused = await ask('plexus stats query --dataset diabetes --fn table --col sex --where "age >= 75"   (too few patients)', { fn: 'table', columns: ['sex'], where: 'age >= 75' })
  if (mean.pooled == null || model.pooled == null) throw new PlexusError('PLX_ERR_INTERNAL', ['a federated statistics query of the demo failed'])
  return { mean: mean.pooled, glm: model.pooled, refused: refused.sites.map(s => s.status) }
}

function explore (devnet: Devnet, temporary: boolean): string {
  const [a, b] = devnet.nodes
  return [
    '',
    `Keep exploring (the nodes are open on 127.0.0.1 without a key${temporary ? '; their data directories go away when the demo stops' : ''}):`,
    ...devnet.nodes.map(n => `   node ${n.name}  ${n.url ?? ''}/v1  (OpenAI API; Ollama API at ${n.url ?? ''}/api)  data: ${n.dataDir}`),
    '',
    `   Open ${a?.url ?? ''}/ in a browser: the dashboard (network, chat, models, cabinets, training, statistics, books, votes).`,
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
    .description('a guided tour on a 3-node devnet: a community request served by a peer, a private one refused, the network status, three clinics training a model together, and three research sites answering federated statistics')
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
        seen = await tour(devnet, dir, say)
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

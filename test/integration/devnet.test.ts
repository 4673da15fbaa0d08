import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../helpers/node.js'
import { plexus, plexusAsync } from '../helpers/cli.js'
import { stopDevnet, type DevnetFile } from '../../src/devnet/devnet.js'
import { pidAlive } from '../../src/devnet/processes.js'

interface Peer { peerId: string, connected: boolean, models: Array<{ name: string }> }

async function completion (url: string, headers: Record<string, string>): Promise<{ status: number, body: { choices?: Array<{ text: string }>, plexus?: { route: { kind: string, peers: string[] } }, error?: { code: string } } }> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 16, seed: 3 })
  })
  return { status: res.status, body: await res.json() as never }
}

describe('plexus devnet', () => {
  let dir: string
  before(() => { dir = tempDir('plexus-devnet-') })
  after(async () => {
    // Whatever happened above, no node outlives the test.
    if (existsSync(join(dir, 'devnet.json'))) await stopDevnet(dir, 5_000)
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses bad input with exit code 2 and a clear message', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--nodes', '0'], /--nodes must be between 1 and 64/],
      [['--nodes', '1000'], /--nodes must be between 1 and 64/],
      [['--nodes', 'three'], /--nodes must be an integer/],
      [['--nodes', '3', '--base-port', '65500'], /--base-port must be at most 65433 for 3 node/],
      [['--nodes', '2', '--node-args', 'C:--no-embedded-model'], /--node-args must be NODE:ARGS with NODE one of A, B/],
      [['--log-level', 'loud'], /--log-level must be one of/]
    ]
    for (const [args, message] of cases) {
      const r = plexus(['devnet', 'up', '--dir', join(dir, 'never'), ...args])
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message)
    }
    assert.ok(!existsSync(join(dir, 'never')), 'nothing was created')
  })

  it('says clearly when there is no devnet to stop', () => {
    const r = plexus(['devnet', 'down', '--dir', join(dir, 'none')])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^plexus: No devnet to use in .*none: there is no devnet\.json/)
    const json = plexus(['devnet', 'down', '--dir', join(dir, 'none'), '--json'])
    assert.equal((JSON.parse(json.stderr) as { error: { code: string } }).error.code, 'PLX_ERR_DEVNET_NOT_FOUND')
  })

  it('stops the nodes it started and names the culprit when a node cannot start', async () => {
    const failDir = join(dir, 'failing')
    const r = await plexusAsync(['devnet', 'up', '--nodes', '2', '--dir', failDir, '--node-args', 'B:--p2p-port notaport'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /plexus: The devnet could not start: node B exited \(code 2\) before it was ready: .*--p2p-port must be an integer/)
    assert.ok(!existsSync(join(failDir, 'devnet.json')))
  })

  it('starts 3 nodes that all see each other, routes a community request to a peer, and stops every process', async () => {
    const up = await plexusAsync(['devnet', 'up', '--nodes', '3', '--dir', dir, '--detach', '--json', '--log-level', 'warn', '--node-args', 'A:--no-embedded-model'])
    assert.equal(up.code, 0, up.stderr)
    const net = JSON.parse(up.stdout) as DevnetFile & { detached: boolean }
    assert.equal(net.detached, true)
    assert.match(net.networkId, /^devnet-[0-9a-f]{8}$/)
    assert.deepEqual(net.nodes.map(n => n.name), ['A', 'B', 'C'])
    assert.deepEqual(net.nodes.map(n => n.models), [[], ['stories260K'], ['stories260K']])
    assert.equal(new Set(net.nodes.map(n => n.peerId)).size, 3)
    for (const n of net.nodes) {
      assert.match(n.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.match(n.multiaddr, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/${n.p2pPort}/p2p/${n.peerId}$`))
      assert.ok(pidAlive(n.pid), `node ${n.name} runs after devnet up exited`)
    }
    const recorded = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as DevnetFile
    assert.deepEqual(recorded.nodes.map(n => n.pid), net.nodes.map(n => n.pid))

    // Every node has the adverts of the two others (`plexus peers` through each node's runtime file).
    for (const n of net.nodes) {
      const r = await plexusAsync(['peers', '--data-dir', n.dataDir, '--json'])
      assert.equal(r.code, 0, r.stderr)
      const peers = JSON.parse(r.stdout) as Peer[]
      assert.deepEqual(peers.map(p => p.peerId).sort(), net.nodes.filter(o => o !== n).map(o => o.peerId).sort())
    }
    const [a, b, c] = net.nodes as [DevnetFile['nodes'][number], DevnetFile['nodes'][number], DevnetFile['nodes'][number]]
    const human = await plexusAsync(['peers', '--data-dir', a.dataDir])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^PEER\s+CONNECTED\s+LATENCY\s+REPUTATION/)
    assert.equal(human.stdout.trim().split('\n').length, 3)
    assert.match(human.stdout, /stories260K/)

    const status = await plexusAsync(['network', 'status', '--data-dir', b.dataDir, '--json'])
    assert.equal(status.code, 0, status.stderr)
    const s = JSON.parse(status.stdout) as { peerId: string, networkId: string, peers: number, mdns: boolean, multiaddrs: string[] }
    assert.equal(s.peerId, b.peerId)
    assert.equal(s.networkId, net.networkId)
    assert.equal(s.peers, 2)
    assert.equal(s.mdns, false)
    assert.ok(s.multiaddrs.every(m => m.startsWith('/ip4/127.0.0.1/')), 'the devnet listens on 127.0.0.1 only')
    const statusHuman = await plexusAsync(['network', 'status', '--data-dir', b.dataDir])
    assert.equal(statusHuman.code, 0, statusHuman.stderr)
    assert.match(statusHuman.stdout, new RegExp(`^peer id\\s+${b.peerId}\\n`))
    assert.match(statusHuman.stdout, new RegExp(`network\\s+${net.networkId} \\(open swarm, mDNS off\\)`))

    // A has no model: a community request is served by B or C, a private one is refused.
    const community = await completion(a.url as string, { 'x-plexus-privacy': 'community' })
    assert.equal(community.status, 200, JSON.stringify(community.body))
    assert.equal(community.body.plexus?.route.kind, 'peer')
    assert.ok([b.peerId, c.peerId].includes(community.body.plexus?.route.peers[0] ?? ''))
    assert.ok((community.body.choices?.[0]?.text ?? '').length > 0)
    const refused = await completion(a.url as string, {})
    assert.equal(refused.status, 503)
    assert.equal(refused.body.error?.code, 'no_local_capacity')

    // A second devnet in the same directory is refused while this one runs.
    const again = await plexusAsync(['devnet', 'up', '--nodes', '1', '--dir', dir])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /a devnet is already running in .* stop it with `plexus devnet down/)

    const down = await plexusAsync(['devnet', 'down', '--dir', dir, '--json'])
    assert.equal(down.code, 0, down.stderr)
    const stopped = JSON.parse(down.stdout) as { stopped: number[], killed: number[], gone: string[] }
    assert.deepEqual([...stopped.stopped, ...stopped.killed].sort(), net.nodes.map(n => n.pid).sort())
    assert.deepEqual(stopped.gone, [])
    for (const n of net.nodes) {
      assert.ok(!pidAlive(n.pid), `node ${n.name} (pid ${n.pid}) is stopped`)
      assert.ok(!existsSync(join(n.dataDir, 'node.json')), `node ${n.name} removed its runtime file: it stopped cleanly`)
    }
    assert.ok(!existsSync(join(dir, 'devnet.json')))
  })
})

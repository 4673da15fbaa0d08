import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../helpers/node.js'
import { plexus, plexusAsync, startNodeProcess } from '../helpers/cli.js'
import { readSwarmKey } from '../../src/p2p/host.js'

const SWARM_KEY = /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/

describe('plexus peers, network status and network psk', () => {
  let dir: string
  before(() => { dir = tempDir('plexus-netcli-') })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('lists the network commands in the help', () => {
    const help = plexus(['--help'])
    assert.equal(help.code, 0)
    for (const cmd of ['peers', 'network', 'devnet', 'demo']) assert.match(help.stdout, new RegExp(`\\n\\s+${cmd}\\b`))
    const network = plexus(['network', '--help'])
    assert.match(network.stdout, /status/)
    assert.match(network.stdout, /psk/)
  })

  it('network psk prints a new swarm key, or writes it with mode 0600 and never overwrites it', () => {
    const printed = plexus(['network', 'psk'])
    assert.equal(printed.code, 0, printed.stderr)
    assert.match(printed.stdout, SWARM_KEY)
    assert.notEqual(plexus(['network', 'psk']).stdout, printed.stdout, 'a new key every time')
    const json = JSON.parse(plexus(['network', 'psk', '--json']).stdout) as { key: string }
    assert.match(json.key, SWARM_KEY)

    const file = join(dir, 'swarm.key')
    const written = plexus(['network', 'psk', '--out', file, '--json'])
    assert.equal(written.code, 0, written.stderr)
    assert.equal((JSON.parse(written.stdout) as { path: string }).path, file)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const key = readFileSync(file, 'utf8')
    assert.match(key, SWARM_KEY)
    assert.equal(readSwarmKey(file).byteLength, key.length, 'the p2p host accepts the file')

    const again = plexus(['network', 'psk', '--out', file])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /^plexus: .*swarm\.key already exists; a swarm key is never overwritten/)
    assert.equal(readFileSync(file, 'utf8'), key, 'the old key is intact')
    const againJson = plexus(['network', 'psk', '--out', file, '--json'])
    assert.equal((JSON.parse(againJson.stderr) as { error: { code: string } }).error.code, 'PLX_ERR_FILE_EXISTS')
  })

  it('peers and network status say clearly when no node runs', () => {
    for (const args of [['peers'], ['network', 'status']]) {
      const r = plexus([...args, '--data-dir', join(dir, 'nothing')])
      assert.equal(r.code, 1)
      assert.equal(r.stderr.trim().split('\n').length, 1)
      assert.match(r.stderr, /^plexus: No running node found: nothing is running on data directory/)
    }
  })

  it('peers and network status say clearly when the node runs without the network', async () => {
    const dataDir = join(dir, 'island')
    const { child } = await startNodeProcess(dataDir, ['--no-p2p'])
    try {
      for (const args of [['peers'], ['network', 'status']]) {
        const r = await plexusAsync([...args, '--data-dir', dataDir])
        assert.equal(r.code, 1)
        assert.equal(r.stderr, 'plexus: The peer-to-peer network is off on this node (network.enabled is false)\n')
        const json = await plexusAsync([...args, '--data-dir', dataDir, '--json'])
        assert.equal((JSON.parse(json.stderr) as { error: { code: string } }).error.code, 'PLX_ERR_NETWORK_OFF')
      }
    } finally {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  })
})

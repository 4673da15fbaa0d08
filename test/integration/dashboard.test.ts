import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, rmSync } from 'node:fs'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { tempDir } from '../helpers/node.js'
import { openDashboard, type Dashboard } from '../helpers/browser.js'
import { plexus } from '../helpers/cli.js'

// The dashboard shell, the network panel and the key prompt, in Debian's Chromium against a real
// 2-node devnet (two `plexus start` processes on 127.0.0.1).
describe('dashboard: shell and network panel', () => {
  let dir: string
  let devnet: Devnet
  let a: string
  let dash: Dashboard

  before(async () => {
    dir = tempDir('plexus-dash-')
    devnet = await startDevnet({ dir, nodes: [{}, {}], logLevel: 'warn' })
    a = devnet.nodes[0]?.url ?? ''
    dash = await openDashboard(a)
  })
  after(async () => {
    await dash?.close()
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves the page with a strict CSP, and one line to non-browser clients', async () => {
    const html = await fetch(`${a}/`, { headers: { accept: 'text/html' } })
    assert.equal(html.status, 200)
    assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'self'/)
    assert.match(await html.text(), /<div id="app">/)
    const plain = await fetch(`${a}/`)
    assert.equal(await plain.text(), 'Plexus is running\n')
    const asset = (await (await fetch(`${a}/`, { headers: { accept: 'text/html' } })).text()).match(/\/assets\/[^"]+\.js/)?.[0]
    assert.ok(asset != null)
    const js = await fetch(`${a}${asset}`)
    assert.equal(js.status, 200)
    assert.match(js.headers.get('cache-control') ?? '', /immutable/)
    assert.equal((await fetch(`${a}/assets/nope.js`)).status, 404)
  })

  it('shows this node and its peer on the network panel', async () => {
    await dash.open('network', 'Network')
    const self = devnet.nodes[0]?.peerId ?? ''
    const peer = devnet.nodes[1]?.peerId ?? ''
    // The peer appears once its advert arrived (the devnet waited for the nodes to see each other).
    await dash.page.locator('table').getByTitle(peer, { exact: true }).waitFor()
    assert.ok(await dash.page.locator('.peer-graph').isVisible())
    assert.match(await dash.page.locator('.top').innerText(), new RegExp(self.slice(0, 8)))
    await dash.screenshot('network')
    // Narrow: the navigation wraps above the panel and nothing overflows sideways.
    await dash.page.setViewportSize({ width: 400, height: 800 })
    const overflow = await dash.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number
    assert.ok(overflow <= 1, `page scrolls sideways by ${overflow}px at 400px`)
    await dash.screenshot('network-narrow')
    await dash.page.setViewportSize({ width: 1280, height: 860 })
  })

  it('is keyboard reachable: Tab reaches every panel link', async () => {
    const links = await dash.page.locator('nav.side a').count()
    const seen = new Set<string>()
    for (let i = 0; i < links + 5; i++) {
      await dash.page.keyboard.press('Tab')
      const text = await dash.page.evaluate("document.activeElement?.closest('nav.side') != null ? document.activeElement.textContent : ''") as string
      if (text !== '') seen.add(text)
    }
    assert.equal(seen.size, links)
  })

  it('asks for a key once the node requires one, and uses it', async () => {
    const dataDir = devnet.nodes[0]?.dataDir ?? ''
    const created = plexus(['keys', 'create', 'dash', '--json', '--data-dir', dataDir])
    assert.equal(created.code, 0, created.stderr)
    const key = (JSON.parse(created.stdout) as { key: string }).key
    await dash.open('network', 'Network')
    const dialog = dash.page.getByRole('dialog', { name: 'This node needs an API key' })
    await dialog.waitFor()
    await dialog.getByLabel('API key').fill(key)
    await dialog.getByRole('button', { name: 'Use key' }).click()
    await dash.page.locator('.facts').getByText('Node id').waitFor()
    assert.equal(await dialog.isVisible(), false)
    // 401s are expected browser console lines while no key was given; nothing else may appear.
    const unexpected = dash.errors.filter(e => !/401 \(Unauthorized\)/.test(e))
    assert.deepEqual(unexpected, [])
  })

  it('had no console errors before the key was required', () => {
    assert.ok(existsSync(dir))
    assert.deepEqual(dash.errors.filter(e => !/401/.test(e)), [])
  })
})

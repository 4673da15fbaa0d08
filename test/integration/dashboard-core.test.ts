import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { FIXTURE_MODEL, FIXTURE_SHA256, tempDir } from '../helpers/node.js'
import { openDashboard, type Dashboard } from '../helpers/browser.js'
import { serveFiles, type FileServer } from '../helpers/file-server.js'

// The Chat, Models and Cabinets panels in Debian's Chromium against a real 2-node devnet (two
// `plexus start` processes on 127.0.0.1), the real stories260K model and a local HTTP server to
// pull from.
describe('dashboard: chat, models and cabinets panels', () => {
  let dir: string
  let devnet: Devnet
  let a: string
  let b: string
  let files: FileServer
  let dash: Dashboard
  const padded = Buffer.concat([readFileSync(FIXTURE_MODEL), Buffer.alloc(64)])

  before(async () => {
    dir = tempDir('plexus-dash-core-')
    devnet = await startDevnet({ dir, nodes: [{}, {}], logLevel: 'warn' })
    a = devnet.nodes[0]?.url ?? ''
    b = devnet.nodes[1]?.url ?? ''
    files = await serveFiles({ '/padded-stories.gguf': padded })
    dash = await openDashboard(a)
  })
  after(async () => {
    await dash?.close()
    await files?.close()
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Waits until the page has no sideways scroll at 400px wide, then restores the width. */
  const assertNarrow = async (name: string): Promise<void> => {
    await dash.page.setViewportSize({ width: 400, height: 800 })
    await dash.screenshot(`${name}-narrow`)
    const overflow = await dash.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number
    assert.ok(overflow <= 1, `${name} scrolls sideways by ${overflow}px at 400px`)
    await dash.page.setViewportSize({ width: 1280, height: 860 })
  }

  /** [value, max] of the first <progress> matching `selector`. */
  const progressOf = async (selector: string): Promise<[number, number]> =>
    await dash.page.evaluate(`(() => { const p = document.querySelector(${JSON.stringify(selector)}); return [p.value, p.max] })()`) as [number, number]

  it('lists the panels in order after the network panel', async () => {
    await dash.open('chat', 'Chat')
    const links = await dash.page.locator('nav.side a').allInnerTexts()
    assert.deepEqual(links.slice(0, 4), ['Network', 'Chat', 'Models', 'Cabinets'])
  })

  it('streams a chat answer and says it ran on this node', async () => {
    await dash.open('chat', 'Chat')
    const page = dash.page
    await page.getByLabel('Model').locator('option', { hasText: 'stories260K' }).waitFor({ state: 'attached' })
    assert.equal(await page.getByLabel('Model').inputValue(), 'stories260K')
    await page.getByLabel('Max tokens').fill('48')
    await page.getByLabel('Message', { exact: true }).fill('Once upon a time')
    await page.getByRole('button', { name: 'Send' }).click()
    const answer = page.locator('.turn.assistant').last()
    await answer.getByText('ran on this node').waitFor()
    const text = await answer.locator('.text').innerText()
    assert.ok(text.trim().length > 0, 'no text was streamed')
    assert.equal(await page.locator('.turn.user .text').first().innerText(), 'Once upon a time')
    assert.ok(await page.getByRole('button', { name: 'Send' }).isDisabled(), 'Send is enabled with an empty message')
    assert.ok(await page.getByRole('button', { name: 'Stop' }).isDisabled())

    // A second turn keeps the history; Stop ends a running stream and the panel is ready again.
    await page.getByLabel('Max tokens').fill('1500')
    await page.getByLabel('Message', { exact: true }).fill('Tell me a long story.')
    await page.getByRole('button', { name: 'Send' }).click()
    // Text streamed in: something besides the cursor (waitForFunction would need eval, which the CSP forbids).
    await page.locator('.turn.assistant').nth(1).locator('.text').filter({ hasText: /[^▍\s]/ }).waitFor()
    const stop = page.getByRole('button', { name: 'Stop' })
    if (await stop.isEnabled()) await stop.click()
    await page.locator('.turn.assistant').nth(1).locator('.meta').filter({ hasText: /stopped|ran on this node/ }).waitFor()
    assert.equal(await page.locator('.turn').count(), 4)
    assert.equal(await page.getByText('generating…').count(), 0)
    await dash.screenshot('chat')
    await assertNarrow('chat')
  })

  it('runs a model only a peer has on that peer, with privacy community', async () => {
    // Node B registers a model A does not have; its advert reaches A at once.
    const added = await fetch(`${b}/api/plexus/models`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: FIXTURE_MODEL, name: 'tale' }) })
    assert.equal(added.status, 201)
    const peer = devnet.nodes[1]?.peerId ?? ''
    for (;;) {
      const o = await (await fetch(`${a}/api/plexus/models`)).json() as { network: Array<{ name: string, peers: Array<{ peerId: string }> }> }
      if (o.network.some(m => m.name === 'tale' && m.peers.some(p => p.peerId === peer))) break
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    // A fresh page load fetches the model list again.
    await dash.page.reload()
    await dash.open('chat', 'Chat')
    const page = dash.page
    await page.getByLabel('Model').locator('option', { hasText: 'tale' }).waitFor({ state: 'attached' })
    await page.getByLabel('Model').selectOption('tale')
    await page.getByLabel('Privacy').selectOption('community')
    await page.getByLabel('Max tokens').fill('24')
    await page.getByLabel('Message', { exact: true }).fill('Once upon a time')
    await page.getByRole('button', { name: 'Send' }).click()
    const answer = page.locator('.turn.assistant').last()
    await answer.getByText('ran on peer').waitFor()
    assert.equal(await answer.locator('.route code').getAttribute('title'), peer)
    assert.ok((await answer.locator('.text').innerText()).trim().length > 0)
    await dash.screenshot('chat-peer')
  })

  it('shows installed and network models with their metadata', async () => {
    await dash.open('models', 'Models')
    const page = dash.page
    const installed = page.locator('table').filter({ has: page.locator('caption', { hasText: 'Installed models' }) })
    const row = installed.locator('tbody tr').filter({ hasText: 'stories260K' })
    await row.waitFor()
    const cells = await row.locator('td').allInnerTexts()
    assert.match(cells[0] ?? '', /stories260K\s*default/)
    assert.equal(cells[1], 'llama')
    assert.match(cells[2] ?? '', /^\d+(\.\d+)?K$/)
    assert.equal(cells[3], '2,048')
    assert.ok((cells[4] ?? '').length > 0)
    assert.equal(await row.locator('code').getAttribute('title'), FIXTURE_SHA256)
    const network = page.locator('table').filter({ has: page.locator('caption', { hasText: 'peers advertise' }) })
    const tale = network.locator('tbody tr').filter({ hasText: 'tale' })
    await tale.waitFor()
    assert.equal(await tale.locator('td').nth(5).locator('code').getAttribute('title'), devnet.nodes[1]?.peerId)
    await dash.screenshot('models')
  })

  it('adds a file, pulls a model with a progress bar, and removes it', async () => {
    await dash.open('models', 'Models')
    const page = dash.page
    const installed = page.locator('table').filter({ has: page.locator('caption', { hasText: 'Installed models' }) })
    await page.getByLabel("Path on the node's machine").fill(FIXTURE_MODEL)
    await page.locator('form').filter({ hasText: "Path on the node's machine" }).getByLabel('Name (optional)').fill('again')
    await page.getByRole('button', { name: 'Add', exact: true }).click()
    await page.getByText('Added again.').waitFor()
    await installed.locator('tbody tr').filter({ hasText: 'again' }).waitFor()

    await page.getByLabel('GGUF URL').fill(`${files.url}/padded-stories.gguf`)
    await page.getByRole('button', { name: 'Pull', exact: true }).click()
    await page.getByText('Pulled and registered padded-stories.').waitFor()
    const bar = page.getByRole('progressbar', { name: 'Pulling padded-stories.gguf' })
    await bar.waitFor()
    assert.deepEqual(await progressOf('.pull-progress progress'), [padded.length, padded.length])
    assert.match(await page.locator('.pull-progress').innerText(), /\(100%\)/)
    const pulledRow = installed.locator('tbody tr').filter({ hasText: 'padded-stories' })
    await pulledRow.waitFor()
    assert.deepEqual(files.requests, ['/padded-stories.gguf'])
    await dash.screenshot('models-pulled')

    await page.getByRole('button', { name: 'Remove padded-stories' }).click()
    await pulledRow.waitFor({ state: 'detached' })
    await page.getByRole('button', { name: 'Remove again' }).click()
    await installed.locator('tbody tr').filter({ hasText: 'again' }).waitFor({ state: 'detached' })
    const left = await (await fetch(`${a}/api/plexus/models`)).json() as { installed: Array<{ name: string }> }
    assert.deepEqual(left.installed.map(m => m.name), ['stories260K'])
    await assertNarrow('models')
  })

  it('creates a cabinet, locks and unlocks it, uploads, searches, asks with citations and shows the audit log', async () => {
    await dash.open('cabinets', 'Cabinets')
    const page = dash.page
    await page.getByText('No cabinets yet.').waitFor()
    await page.getByLabel('Name').fill('notes')
    await page.getByLabel('Passphrase').fill('correct horse battery')
    await page.getByRole('button', { name: 'Create' }).click()
    await page.getByRole('heading', { name: 'Cabinet notes' }).waitFor()
    await page.getByText('Unlocked', { exact: true }).waitFor()

    await page.getByRole('button', { name: 'Lock', exact: true }).click()
    await page.locator('.cabinet-detail').getByText('Locked', { exact: true }).waitFor()
    await page.locator('.cabinet-detail').getByLabel('Passphrase').fill('correct horse battery')
    await page.getByRole('button', { name: 'Unlock' }).click()
    await page.getByText('Unlocked', { exact: true }).waitFor()

    const story = 'Otters of the river\n\nSea otters eat crabs, clams and sea urchins. They float on their backs and use stones to crack shells.\n\nRiver otters eat fish and frogs.\n'
    await page.getByLabel('Upload files').setInputFiles({ name: 'otters.txt', mimeType: 'text/plain', buffer: Buffer.from(story) })
    await page.getByText(/ingested: added, \d+ chunks?/).waitFor()
    const upload = page.getByRole('progressbar', { name: 'Upload of otters.txt' })
    await upload.waitFor()
    const [sent, size] = await progressOf('.uploads progress')
    assert.equal(sent, size)
    await page.locator('table').getByText('upload:otters.txt').waitFor()

    await page.getByLabel('Query').fill('otters crabs')
    await page.getByRole('button', { name: 'Search' }).click()
    const hits = page.getByRole('list', { name: 'Search results' })
    await hits.waitFor()
    assert.match(await hits.innerText(), /crabs/)

    await page.getByLabel('Question').fill('What do sea otters eat?')
    await page.getByRole('button', { name: 'Ask' }).click()
    const citations = page.getByRole('list', { name: 'Citations' })
    await citations.waitFor()
    const cited = await citations.innerText()
    assert.match(cited, /\[1\]/)
    assert.match(cited, /upload:otters\.txt/)
    assert.ok((await page.locator('.answer p').first().innerText()).trim().length > 0)

    const audit = page.locator('.card').filter({ has: page.getByRole('heading', { name: 'Audit log' }) })
    await audit.locator('tbody tr').filter({ hasText: 'ask' }).waitFor()
    const actions = await audit.locator('tbody tr td:nth-child(2)').allInnerTexts()
    for (const action of ['search', 'ask']) assert.ok(actions.includes(action), `audit log lacks ${action}: ${actions.join(', ')}`)
    assert.ok(actions.some(x => /ingest|upload/.test(x)), `audit log lacks the upload: ${actions.join(', ')}`)
    await dash.screenshot('cabinets')
    await assertNarrow('cabinets')
  })

  it('had no console errors', () => {
    assert.deepEqual(dash.errors, [])
  })
})

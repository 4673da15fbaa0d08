import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startDevnet, type Devnet } from '../../src/devnet/devnet.js'
import { STATS_FUNCTIONS } from '../../src/analytics/functions.js'
import { tempDir, waitFor } from '../helpers/node.js'
import { openDashboard, type Dashboard } from '../helpers/browser.js'
import { breastCancer, post, stratified, writeCsv } from '../helpers/federated.js'

/**
 * A small survey per site: `grp` (a factor) and two numbers. Site B has only 2 rows in group b,
 * below the disclosure threshold of 3, so that cell of a table is suppressed.
 */
function survey (file: string, a: number, b: number): void {
  const rows = [...Array.from({ length: a }, (_v, i) => `a,${20 + i},${(i * 7) % 11}`), ...Array.from({ length: b }, (_v, i) => `b,${40 + i},${(i * 5) % 13}`)]
  writeFileSync(file, ['grp,score,age', ...rows].join('\n') + '\n')
}

// The federated learning, statistics, ledger and governance panels in Debian's Chromium against a
// real 2-node devnet (two `plexus start` processes on 127.0.0.1).
describe('dashboard: federated learning, statistics, ledger and governance panels', { timeout: 600_000 }, () => {
  let dir: string
  let devnet: Devnet
  let a: string
  let b: string
  let dash: Dashboard

  /** The page must not scroll sideways at 400px, then goes back to the wide viewport. */
  async function narrowFits (name: string): Promise<void> {
    await dash.page.setViewportSize({ width: 400, height: 800 })
    // uPlot follows its box's width through a ResizeObserver: give it a frame or two.
    await dash.page.waitForFunction('document.documentElement.scrollWidth - document.documentElement.clientWidth <= 1', undefined, { timeout: 2000 }).catch(() => {})
    const overflow = await dash.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number
    const widest = await dash.page.evaluate(`[...document.querySelectorAll('main *')].filter(e => e.closest('.table-wrap') == null && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`) as string
    assert.ok(overflow <= 1, `${name}: the page scrolls sideways by ${overflow}px at 400px (${widest})`)
    await dash.screenshot(`${name}-narrow`)
    await dash.page.setViewportSize({ width: 1280, height: 860 })
  }

  /** Fills a panel's form: each labelled field (a select or an input) gets its value, in order. */
  async function fill (fields: Record<string, string>): Promise<void> {
    for (const [label, value] of Object.entries(fields)) {
      const field = dash.page.getByLabel(label)
      if (await field.evaluate(e => e.tagName) === 'SELECT') await field.selectOption(value)
      else await field.fill(value)
    }
  }

  /** Opens node A's statistics panel, runs a query on the survey from its form; the answer's box. */
  async function query (fn: string, columns: string): Promise<ReturnType<Dashboard['page']['locator']>> {
    await dash.open('statistics', 'Statistics')
    await fill({ Dataset: 'survey', Function: fn, 'Columns (comma-separated)': columns })
    await dash.page.getByRole('button', { name: 'Run query' }).click()
    return dash.page.locator('.stats-answer')
  }

  before(async () => {
    dir = tempDir('plexus-dash-work-')
    // Both nodes join each other's jobs without review and release small table cells suppressed;
    // node B's owner reviews correlations. Reward epochs of 2 s, so the job's receipts settle soon,
    // and a signed head every 2 s, so each node soon holds the other's.
    for (const [name, autoApprove] of [['A', STATS_FUNCTIONS], ['B', STATS_FUNCTIONS.filter(f => f !== 'cor')]] as const) {
      mkdirSync(join(dir, name), { recursive: true, mode: 0o700 })
      writeFileSync(join(dir, name, 'config.json'), JSON.stringify({
        federated: { autoAcceptFrom: ['*'] },
        stats: { smallCells: 'suppress', autoApprove },
        ledger: { epochSeconds: 2, headIntervalSeconds: 2, commitSeconds: 1, revealSeconds: 1 }
      }))
    }
    devnet = await startDevnet({ dir, nodes: [{ args: ['--no-embedded-model'] }, { args: ['--no-embedded-model'] }], logLevel: 'warn' })
    a = devnet.nodes[0]?.url ?? ''
    b = devnet.nodes[1]?.url ?? ''
    const sites = stratified(breastCancer().slice(0, 160), 2)
    for (const [i, url] of [a, b].entries()) {
      const patients = join(dir, `patients-${i}.csv`)
      writeCsv(patients, sites[i]!)
      const p = await post(`${url}/api/plexus/data`, { name: 'patients', path: patients })
      assert.equal(p.status, 201, await p.text())
      const answers = join(dir, `survey-${i}.csv`)
      survey(answers, 12, i === 0 ? 8 : 2)
      const s = await post(`${url}/api/plexus/data`, { name: 'survey', path: answers })
      assert.equal(s.status, 201, await s.text())
    }
    dash = await openDashboard(a)
  })
  after(async () => {
    await dash?.close()
    await devnet?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('runs a federated job from a template and its charts fill in round by round', async () => {
    const page = dash.page
    await dash.open('federated', 'Federated learning')
    await fill({ Template: 'logistic', 'Job name': 'dash-job', Dataset: 'patients', 'Label column': 'label', Rounds: '2' })
    // Every value the "rounds finished" line shows, as the page renders it.
    await page.evaluate(`window.__rounds = []; new MutationObserver(() => {
      const t = document.querySelector('[data-testid=fl-rounds]')?.textContent
      if (t != null && window.__rounds[window.__rounds.length - 1] !== t) window.__rounds.push(t)
    }).observe(document.body, { subtree: true, childList: true, characterData: true })`)
    await page.getByRole('button', { name: 'Start job' }).click()
    assert.match(await page.getByTestId('fl-created').innerText(), /^Started dash-job; its template hash is [0-9a-f]{12}…[0-9a-f]{4} \(not approved by governance/)
    const detail = page.locator('.fl-job')
    await detail.getByText('Job dash-job').waitFor()
    await detail.locator('[data-testid=fl-state]', { hasText: 'completed' }).waitFor({ timeout: 240_000 })
    assert.equal(await detail.locator('[data-testid=fl-rounds]').innerText(), '2 of 2 finished')
    const seen = await page.evaluate('window.__rounds') as string[]
    assert.equal(seen[0], '0 of 2 finished', `rounds seen: ${seen.join(' → ')}`)
    assert.equal(seen[seen.length - 1], '2 of 2 finished')
    // Both charts hold one point per finished round.
    for (const title of ['Accuracy per round', 'Loss per round']) {
      const chart = page.getByRole('img', { name: title })
      assert.equal(await chart.getAttribute('data-points'), '2')
      assert.equal(await chart.locator('canvas').count(), 1)
    }
    // The jobs table lists it with both nodes taking part; this node trained in it too.
    const row = page.locator('.card', { hasText: 'Jobs this node coordinates' }).locator('tr', { hasText: 'dash-job' })
    assert.match(await row.innerText(), /completed\s+2\/2\s+2/)
    const mine = page.locator('.card', { hasText: 'Jobs this node takes part in' }).locator('tr', { hasText: 'dash-job' })
    assert.match(await mine.innerText(), /patients\s+finished\s+2/)
    await dash.screenshot('federated')
    await narrowFits('federated')
  })

  it('pools a statistics query into a table with the small cell marked suppressed', async () => {
    const answer = await query('table', 'grp')
    await answer.getByRole('heading', { name: /Pooled result/ }).waitFor({ timeout: 60_000 })
    const table = answer.locator('.table-wrap table').first()
    // Group a: 12 rows at each site; group b: 8 at A, and B's 2 are below its threshold.
    assert.match(await table.locator('tr', { hasText: /^a/ }).innerText(), /^a\s+24$/)
    assert.match(await table.locator('tr', { hasText: /^b/ }).innerText(), /^b\s+suppressed$/)
    assert.equal(await table.locator('.suppressed-cell').count(), 1)
    // The counts as bars too (the suppressed one left out).
    assert.equal(await answer.getByRole('img', { name: 'Rows by grp' }).getAttribute('data-points'), '2')
    assert.equal(await answer.locator('.table-wrap table').nth(1).locator('tbody tr').count(), 2)
    await dash.screenshot('statistics')
    await narrowFits('statistics')
  })

  it("queues a query for the site owner, who approves it from B's dashboard", async () => {
    const page = dash.page
    const answer = await query('cor', 'score, age')
    await answer.getByText(/waiting for the owner's approval/).waitFor({ timeout: 60_000 })
    assert.match(await answer.innerText(), /not every site answered/)

    await page.goto(`${b}/#/statistics`)
    const queue = page.locator('.card', { hasText: "Owner's approval queue" })
    const pending = queue.locator('tr', { hasText: '"fn":"cor"' })
    await pending.getByRole('button', { name: 'Approve' }).click()
    await pending.locator('[data-testid=approval-state]', { hasText: 'approved' }).waitFor()
    await dash.screenshot('statistics-approvals')

    // Asked again, B answers: the correlation of the 34 rows of both sites.
    await (await query('cor', 'score, age')).getByText('Correlations (n = 34)').waitFor({ timeout: 60_000 })
  })

  it('shows receipts, heads and rewards, and verification passes', async () => {
    const page = dash.page
    // Epochs last 2 s here: wait until the job's receipts lie in a settled one.
    await waitFor('a settled reward epoch', async () => ((await (await fetch(`${a}/api/plexus/rewards`)).json()) as { epochs: unknown[] }).epochs.length > 0)
    await dash.open('ledger', 'Ledger and rewards')
    await page.getByRole('button', { name: 'Sign a head now' }).click()
    // The job's round receipts: B's two rounds, countersigned by A.
    const receipts = page.locator('.card', { hasText: 'Receipts and records' })
    await receipts.locator('td', { hasText: 'fl-round' }).first().waitFor()
    assert.ok(await receipts.locator('td', { hasText: /round \d, \d+ samples/ }).count() >= 2)
    await page.locator('.facts').getByText('Latest signed head').waitFor()
    // B's signed head, gossiped, checked and kept (the panel refreshes every few seconds).
    const peerId = devnet.nodes[1]?.peerId ?? ''
    const heads = page.locator('.card', { hasText: 'Heads seen from peers' })
    await heads.locator('tr', { has: page.getByTitle(peerId, { exact: true }) }).getByText('trusted').waitFor({ timeout: 30_000 })
    await page.getByRole('button', { name: 'Verify', exact: true }).click()
    const verdict = page.getByTestId('verify-result')
    await verdict.waitFor()
    assert.match(await verdict.innerText(), /^Verified: \d+ entries/)
    assert.equal(await page.locator('.alert').count(), 0)
    // Epochs last 2 s and their score windows 1 s each, so the job's receipts are in a settled epoch by now.
    await page.getByRole('img', { name: 'Tokens earned per epoch' }).waitFor({ timeout: 30_000 })
    await dash.screenshot('ledger')
    await narrowFits('ledger')
  })

  it('creates a proposal and votes on it from the panel; the tally changes', async () => {
    const page = dash.page
    await dash.open('governance', 'Governance')
    await fill({ Parameter: 'router.defaultPrivacy', 'New value (JSON)': '"community"', Title: 'Share with the community by default' })
    await page.getByRole('button', { name: 'Propose' }).click()
    const card = page.locator('.proposal', { hasText: 'Share with the community by default' })
    const tally = card.getByTestId('tally')
    await tally.waitFor()
    assert.match(await tally.innerText(), /^yes 0 · no 0 · abstain 0 · of 2 eligible/)
    await card.getByRole('button', { name: 'Vote yes' }).click()
    await card.getByTestId('tally').getByText(/^yes 1 · no 0 · abstain 0 · of 2 eligible /).waitFor()
    // A later vote replaces the earlier one.
    await card.getByRole('button', { name: 'Vote no' }).click()
    await card.getByTestId('tally').getByText(/^yes 0 · no 1 /).waitFor()
    assert.equal(await card.getByRole('button', { name: 'Vote no' }).getAttribute('aria-pressed'), 'true')
    const self = devnet.nodes[0]?.peerId ?? ''
    assert.equal(await card.getByRole('list', { name: 'Votes counted' }).getByRole('listitem').innerText(), `${self.slice(0, 8)}…${self.slice(-4)} no`)
    await dash.screenshot('governance')
    await narrowFits('governance')
  })

  it('had no console errors', () => {
    assert.deepEqual(dash.errors, [])
  })
})

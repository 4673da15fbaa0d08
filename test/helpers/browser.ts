/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core, for the dashboard's
 * tests. `.ci/run` installs the package when it is missing; PLEXUS_CHROMIUM points elsewhere.
 * Every console error and uncaught page error is collected, so a test can assert there were none.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { REPO_ROOT } from './node.js'

export const CHROMIUM = process.env.PLEXUS_CHROMIUM ?? '/usr/bin/chromium'
/** Screenshots of the panels, kept after the run (ignored by git). */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'artifacts', 'screenshots')

export interface Dashboard {
  browser: Browser
  page: Page
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[]
  /** Opens `#/<panel>` and waits for its heading. */
  open: (panel: string, heading: string) => Promise<void>
  /** Saves a full-page PNG as artifacts/screenshots/<name>.png and returns its path. */
  screenshot: (name: string) => Promise<string>
  close: () => Promise<void>
}

export async function openDashboard (url: string, options: { width?: number, height?: number } = {}): Promise<Dashboard> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium; .ci/run does this) or set PLEXUS_CHROMIUM`)
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // No sandbox (CI runs as root); no background traffic to the outside: this machine's network is closed.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']
  })
  const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: options.height ?? 860 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', m => { if (m.type() === 'error') errors.push(`console: ${m.text()}`) })
  page.on('pageerror', e => { errors.push(`page: ${e.message}`) })
  await page.goto(url)
  mkdirSync(SCREENSHOT_DIR, { recursive: true })
  return {
    browser,
    page,
    errors,
    open: async (panel, heading) => {
      await page.goto(`${url}/#/${panel}`)
      await page.getByRole('heading', { level: 2, name: heading }).waitFor()
    },
    screenshot: async (name) => {
      const path = join(SCREENSHOT_DIR, `${name}.png`)
      await page.screenshot({ path, fullPage: true })
      return path
    },
    close: async () => { await browser.close() }
  }
}

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PlexusNode } from '../../src/node/node.js'
import type { ConfigOverrides } from '../../src/node/config.js'
import { silentLogger } from '../../src/logger.js'

/** Repository root, from the compiled test (dist/test/helpers/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const FIXTURE_MODEL = join(REPO_ROOT, 'models', 'stories260K.gguf')
export const FIXTURE_SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d'

export function tempDir (prefix = 'plexus-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export interface TestNode {
  node: PlexusNode
  url: string
  dataDir: string
  close: () => Promise<void>
}

/** A real node on 127.0.0.1 (random port) with the fixture model, in a fresh data directory. */
export async function startTestNode (config: ConfigOverrides = {}, options: { models?: string[], dataDir?: string, embeddedModel?: boolean } = {}): Promise<TestNode> {
  const dataDir = options.dataDir ?? tempDir()
  const node = await PlexusNode.create({
    dataDir,
    logger: silentLogger(),
    writeRuntimeFile: false,
    models: options.models,
    embeddedModel: options.embeddedModel,
    config: {
      ...config,
      api: { host: '127.0.0.1', port: 0, ...config.api },
      inference: { contextSize: 512, parallel: 2, ...config.inference },
      // Only 127.0.0.1, a random port, no multicast.
      network: { host: '127.0.0.1', port: 0, mdns: false, ...config.network },
      // Spot checks are random re-runs in the background: only where a test asks for them.
      ledger: { spotCheckFraction: 0, ...config.ledger }
    }
  })
  const url = await node.start()
  return {
    node,
    url,
    dataDir,
    close: async () => {
      await node.stop({ graceMs: 0 })
      if (options.dataDir == null) rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

/** Reads an SSE body into its `data:` payloads (including the final `[DONE]`). */
export async function readSse (res: Response): Promise<string[]> {
  const text = await res.text()
  return text.split('\n\n').map(e => e.trim()).filter(e => e !== '').map(e => {
    if (!e.startsWith('data: ')) throw new Error(`not an SSE data event: ${e}`)
    return e.slice('data: '.length)
  })
}

/** Reads a counter/gauge value from Prometheus text (labels given as `a="b",c="d"` exactly). */
export function metricValue (text: string, name: string, labels = ''): number | null {
  const line = text.split('\n').find(l => l.startsWith(labels === '' ? `${name} ` : `${name}{${labels}} `))
  return line == null ? null : Number(line.split(' ').pop())
}

/** Polls `check` (sync or async) until it holds. */
export async function waitFor (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { InferenceEngine, type InferenceInit } from '../../src/inference/engine.js'
import { ModelRegistry } from '../../src/inference/registry.js'
import { ThreadCalibrationCache, calibrationCandidates } from '../../src/inference/threads.js'
import { silentLogger } from '../../src/logger.js'
import { FIXTURE_MODEL, FIXTURE_SHA256, tempDir } from '../helpers/node.js'

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

/** An engine over a fresh registry holding the fixture, remembering calibrations in `cacheFile`. */
async function engineWith (cacheFile: string, init: Partial<InferenceInit> = {}): Promise<InferenceEngine> {
  const dir = tempDir('plexus-threads-')
  dirs.push(dir)
  const registry = new ModelRegistry({ registryFile: join(dir, 'models.json'), storeDir: dir })
  await registry.add(FIXTURE_MODEL, { name: 'm', sha256: FIXTURE_SHA256 })
  return new InferenceEngine({ registry, logger: silentLogger(), threadsCacheFile: cacheFile }, { threads: 0, parallel: 1, maxQueue: 8, contextSize: 256, memoryBudgetMiB: 4096, ...init })
}

function cacheEntries (file: string): Record<string, { threads: number, rates: Record<string, number> }> {
  return (JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, { threads: number, rates: Record<string, number> }> }).entries
}

const multiCore = availableParallelism() >= 2

describe('automatic thread count (inference.threads = 0)', () => {
  it('measures every candidate on first load, uses the pick and remembers it per model and binary', { skip: !multiCore && 'needs 2 or more cores' }, async () => {
    // Prepare
    const dir = tempDir('plexus-threads-cache-')
    dirs.push(dir)
    const cacheFile = join(dir, 'threads.json')
    const engine = await engineWith(cacheFile)
    try {
      // Execute
      const info = await engine.load('m')
      const result = await engine.generate({ model: 'm', prompt: 'Once upon a time', maxTokens: 8, temperature: 0 })

      // Assert
      const entries = cacheEntries(cacheFile)
      const keys = Object.keys(entries)
      assert.equal(keys.length, 1)
      const entry = entries[keys[0]!]!
      const binary = engine.binary()
      assert.ok(binary != null)
      // Measured on the loop that generates: the native generation loop, when it is built, has its own entry.
      const loop = engine.nativeLoop().active ? '+native-loop' : ''
      assert.equal(keys[0], ThreadCalibrationCache.key({ sha256: FIXTURE_SHA256, binary: `${binary.binary}${loop}`, llamaCpp: binary.llamaCpp, cores: availableParallelism() }))
      assert.deepEqual(Object.keys(entry.rates).map(Number).sort((a, b) => a - b), calibrationCandidates())
      for (const rate of Object.values(entry.rates)) assert.ok(rate > 0)
      assert.equal(info.threads, entry.threads)
      assert.ok(calibrationCandidates().includes(info.threads))
      assert.equal(result.usage.completionTokens, 8)
    } finally {
      await engine.stop()
    }
  })

  it('uses a remembered calibration without measuring again', { skip: !multiCore && 'needs 2 or more cores' }, async () => {
    // Prepare: learn the key from a first engine, then plant a different pick under it.
    const dir = tempDir('plexus-threads-cache-')
    dirs.push(dir)
    const cacheFile = join(dir, 'threads.json')
    const first = await engineWith(cacheFile)
    await first.load('m')
    await first.stop()
    const [key] = Object.keys(cacheEntries(cacheFile))
    const planted = { threads: 2, rates: { 1: 1, 2: 2 }, measuredAt: new Date().toISOString() }
    writeFileSync(cacheFile, JSON.stringify({ version: 1, entries: { [key!]: planted } }))
    const engine = await engineWith(cacheFile)
    try {
      // Execute
      const info = await engine.load('m')

      // Assert
      assert.equal(info.threads, 2)
      assert.deepEqual(cacheEntries(cacheFile)[key!]?.rates, { 1: 1, 2: 2 }, 'the remembered entry is not measured again')
    } finally {
      await engine.stop()
    }
  })

  it('uses a configured thread count as it is, without measuring', async () => {
    // Prepare
    const dir = tempDir('plexus-threads-cache-')
    dirs.push(dir)
    const cacheFile = join(dir, 'threads.json')
    const engine = await engineWith(cacheFile, { threads: 3 })
    try {
      // Execute
      const info = await engine.load('m')

      // Assert
      assert.equal(info.threads, 3)
      assert.throws(() => readFileSync(cacheFile), { code: 'ENOENT' })
    } finally {
      await engine.stop()
    }
  })

  it('measures again when the cache file is damaged', { skip: !multiCore && 'needs 2 or more cores' }, async () => {
    // Prepare
    const dir = tempDir('plexus-threads-cache-')
    dirs.push(dir)
    const cacheFile = join(dir, 'threads.json')
    writeFileSync(cacheFile, '{ not json')
    const engine = await engineWith(cacheFile)
    try {
      // Execute
      const info = await engine.load('m')

      // Assert
      assert.ok(calibrationCandidates().includes(info.threads))
      assert.equal(Object.keys(cacheEntries(cacheFile)).length, 1)
    } finally {
      await engine.stop()
    }
  })
})

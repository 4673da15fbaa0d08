import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { InferenceEngine, type InferenceInit } from '../../src/inference/engine.js'
import { ModelRegistry } from '../../src/inference/registry.js'
import { silentLogger } from '../../src/logger.js'
import { FIXTURE_MODEL, FIXTURE_SHA256, tempDir } from '../helpers/node.js'

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

/** An engine over a fresh registry holding the fixture under each of `names`. */
async function engineWith (names: string[], init: Partial<InferenceInit> = {}): Promise<InferenceEngine> {
  const dir = tempDir('plexus-engine-')
  dirs.push(dir)
  const registry = new ModelRegistry({ registryFile: join(dir, 'models.json'), storeDir: dir })
  for (const name of names) await registry.add(FIXTURE_MODEL, { name, sha256: FIXTURE_SHA256 })
  return new InferenceEngine({ registry, logger: silentLogger() }, { threads: 1, parallel: 2, maxQueue: 8, contextSize: 256, memoryBudgetMiB: 4096, ...init })
}

describe('InferenceEngine', () => {
  it('loads lazily and unloads the least recently used model to fit the memory budget', async () => {
    // Prepare: measure what one loaded model holds, then allow room for one and a half.
    const probe = await engineWith(['a'])
    const one = (await probe.load('a')).memoryBytes
    await probe.stop()
    const engine = await engineWith(['a', 'b'], { memoryBudgetMiB: Math.ceil(one * 1.5 / 1024 / 1024) })
    try {
      assert.deepEqual(engine.loadedModels(), [], 'nothing is loaded before the first request')
      // Execute
      await engine.generate({ model: 'a', prompt: 'Once', maxTokens: 2 })
      assert.deepEqual(engine.loadedModels().map(m => m.name), ['a'])
      await engine.generate({ model: 'b', prompt: 'Once', maxTokens: 2 })
      // Assert: a was evicted for b.
      assert.deepEqual(engine.loadedModels().map(m => m.name), ['b'])
      await engine.generate({ model: 'a', prompt: 'Once', maxTokens: 2 })
      assert.deepEqual(engine.loadedModels().map(m => m.name), ['a'])
    } finally {
      await engine.stop()
    }
  })

  it('refuses a model larger than the whole budget with PLX_ERR_MODEL_MEMORY', async () => {
    const engine = await engineWith(['a'], { memoryBudgetMiB: 16, contextSize: 2048, parallel: 8 })
    try {
      await assert.rejects(engine.generate({ model: 'a', prompt: 'Once', maxTokens: 2 }), { code: 'PLX_ERR_MODEL_MEMORY' })
    } finally {
      await engine.stop()
    }
  })

  it('gives the same greedy answer whether or not the prompt prefix is reused from cache', async () => {
    const engine = await engineWith(['a'], { parallel: 1 })
    try {
      const messages = [{ role: 'user' as const, content: 'Tell me about a dog.' }]
      const first = await engine.generate({ model: 'a', messages, maxTokens: 20, temperature: 0 })
      // Same conversation plus a turn: the shared prefix is kept in the KV cache.
      const longer = [...messages, { role: 'assistant' as const, content: first.text }, { role: 'user' as const, content: 'And then?' }]
      const cached = await engine.generate({ model: 'a', messages: longer, maxTokens: 20, temperature: 0 })
      const fresh = await engineWith(['a'], { parallel: 1 })
      try {
        const uncached = await fresh.generate({ model: 'a', messages: longer, maxTokens: 20, temperature: 0 })
        assert.equal(cached.text, uncached.text)
        assert.equal(cached.usage.promptTokens, uncached.usage.promptTokens)
      } finally {
        await fresh.stop()
      }
      // And the first answer repeats after the cache holds a different conversation.
      const again = await engine.generate({ model: 'a', messages, maxTokens: 20, temperature: 0 })
      assert.equal(again.text, first.text)
    } finally {
      await engine.stop()
    }
  })

  it('counts tokens exactly and honours maxTokens', async () => {
    const engine = await engineWith(['a'])
    try {
      const r = await engine.generate({ model: 'a', prompt: 'Once upon a time', maxTokens: 17, temperature: 0 })
      assert.equal(r.usage.completionTokens, 17)
      assert.equal(r.finishReason, 'length')
      // BOS + the prompt's own tokens.
      const { promptTokens } = await engine.validate({ model: 'a', prompt: 'Once upon a time' })
      assert.equal(r.usage.promptTokens, promptTokens)
    } finally {
      await engine.stop()
    }
  })

  it('queues beyond the parallel sequences and refuses past the queue limit', async () => {
    const engine = await engineWith(['a'], { parallel: 1, maxQueue: 1 })
    try {
      const results = await Promise.allSettled([0, 1, 2].map(async i => await engine.generate({ model: 'a', prompt: 'Once', maxTokens: 50, seed: i })))
      const fulfilled = results.filter(r => r.status === 'fulfilled')
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      assert.equal(fulfilled.length, 2)
      assert.equal(rejected.length, 1)
      assert.equal((rejected[0]!.reason as { code: string }).code, 'PLX_ERR_QUEUE_FULL')
    } finally {
      await engine.stop()
    }
  })

  it('cancels a generation when its signal aborts, and frees the sequence', async () => {
    const engine = await engineWith(['a'], { parallel: 1 })
    try {
      const controller = new AbortController()
      let pieces = 0
      const running = engine.generate({ model: 'a', prompt: 'Once upon a time', maxTokens: 200 }, {
        signal: controller.signal,
        onText: () => { if (++pieces === 3) controller.abort() }
      })
      await assert.rejects(running, { code: 'PLX_ERR_ABORTED' })
      assert.deepEqual(engine.queueStats(), { active: 0, waiting: 0 })
      const next = await engine.generate({ model: 'a', prompt: 'Once', maxTokens: 3 })
      assert.equal(next.usage.completionTokens, 3)
    } finally {
      await engine.stop()
    }
  })

  it('stops: running work is cancelled, new work refused', async () => {
    const engine = await engineWith(['a'], { parallel: 1 })
    let started!: () => void
    const first = new Promise<void>(resolve => { started = resolve })
    const running = engine.generate({ model: 'a', prompt: 'Once upon a time', maxTokens: 250 }, { onText: () => started() })
    const outcome = assert.rejects(running, { code: 'PLX_ERR_SHUTTING_DOWN' })
    await first
    await engine.stop({ graceMs: 0 })
    await outcome
    await assert.rejects(engine.generate({ model: 'a', prompt: 'Once' }), { code: 'PLX_ERR_SHUTTING_DOWN' })
  })
})

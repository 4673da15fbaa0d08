import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI from 'openai'
import { InferenceEngine, type GenerateRequest, type InferenceInit } from '../../src/inference/engine.js'
import { currentBinary } from '../../src/inference/engine-build.js'
import { buildNativeLoop, nativeLoopDir, readNativeLoopManifest } from '../../src/inference/native-loop-build.js'
import { ModelRegistry } from '../../src/inference/registry.js'
import { silentLogger } from '../../src/logger.js'
import { FIXTURE_MODEL, FIXTURE_SHA256, REPO_ROOT, tempDir, startTestNode, readSse, type TestNode } from '../helpers/node.js'

/**
 * The native generation loop (native/generation-loop) against node-llama-cpp on the real
 * stories260K model: the same tokens, text, usage and stops, and the node's API on top of it.
 * The addon is built first when missing (seconds: it links against node-llama-cpp's libraries).
 */

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

async function engineWith (init: Partial<InferenceInit>): Promise<InferenceEngine> {
  const dir = tempDir('plexus-native-')
  dirs.push(dir)
  const registry = new ModelRegistry({ registryFile: join(dir, 'models.json'), storeDir: dir })
  await registry.add(FIXTURE_MODEL, { name: 'm', sha256: FIXTURE_SHA256 })
  return new InferenceEngine({ registry, logger: silentLogger() }, { threads: 1, parallel: 2, maxQueue: 8, contextSize: 512, memoryBudgetMiB: 4096, ...init })
}

/** A generation's tokens (from onPiece), text and result. */
async function run (engine: InferenceEngine, req: Omit<GenerateRequest, 'model'>): Promise<{ tokens: number[], text: string, finishReason: string, usage: { promptTokens: number, completionTokens: number } }> {
  const tokens: number[] = []
  const r = await engine.generate({ model: 'm', ...req }, { onPiece: ids => { tokens.push(...ids) } })
  return { tokens, text: r.text, finishReason: r.finishReason, usage: r.usage }
}

describe('native generation loop', () => {
  let native: InferenceEngine
  let plain: InferenceEngine

  before(async () => {
    if (readNativeLoopManifest() == null) {
      await buildNativeLoop({ binary: await currentBinary() })
    }
    native = await engineWith({ nativeLoop: true })
    plain = await engineWith({ nativeLoop: false })
    await native.load('m')
    await plain.load('m')
  })
  after(async () => {
    await native.stop()
    await plain.stop()
  })

  it('is built into .cache/native-loop and in use by the engine, and off when configured off', () => {
    assert.equal(nativeLoopDir(), join(REPO_ROOT, '.cache', 'native-loop'))
    assert.deepEqual(native.nativeLoop(), { enabled: true, built: true, active: true, reason: null, binary: readNativeLoopManifest()?.binary ?? null })
    const off = plain.nativeLoop()
    assert.equal(off.active, false)
    assert.equal(off.enabled, false)
    assert.match(off.reason ?? '', /inference\.nativeLoop/)
  })

  it('generates the same greedy tokens and text as node-llama-cpp, raw and chat', async () => {
    const requests: Array<Omit<GenerateRequest, 'model'>> = [
      { prompt: 'Once upon a time', maxTokens: 200, temperature: 0 },
      { prompt: 'The little dog', maxTokens: 120, temperature: 0 },
      { messages: [{ role: 'user', content: 'Tell me a story about a cat.' }], maxTokens: 150, temperature: 0 }
    ]
    for (const req of requests) {
      const a = await run(native, req)
      const b = await run(plain, req)
      assert.ok(a.tokens.length > 20, 'a real generation')
      assert.deepEqual(a.tokens, b.tokens)
      assert.equal(a.text, b.text)
      assert.equal(a.finishReason, b.finishReason)
      assert.deepEqual(a.usage, b.usage)
    }
  })

  it('repeats seeded sampling exactly, as node-llama-cpp samples it (penalties included)', async () => {
    const settings: Array<Omit<GenerateRequest, 'model'>> = [
      { prompt: 'Once upon a time', maxTokens: 150, temperature: 0.8, seed: 42 },
      { prompt: 'Once upon a time', maxTokens: 150, temperature: 1.2, topK: 0, topP: 0.9, minP: 0.1, seed: 7 },
      { prompt: 'Once upon a time', maxTokens: 150, temperature: 0.9, seed: 3, presencePenalty: 0.6, frequencyPenalty: 0.4, repeatPenalty: 1.1 }
    ]
    for (const req of settings) {
      const a = await run(native, req)
      const again = await run(native, req)
      const b = await run(plain, req)
      assert.deepEqual(again.tokens, a.tokens, 'same seed and settings, same tokens')
      assert.deepEqual(a.tokens, b.tokens, 'the same tokens as node-llama-cpp')
      assert.equal(a.text, b.text)
    }
    const other = await run(native, { ...settings[0], seed: 43 })
    assert.notDeepEqual(other.tokens, (await run(native, settings[0]!)).tokens)
  })

  it('stops at stop sequences, holding back their text, with the same usage as node-llama-cpp', async () => {
    const base = await run(native, { prompt: 'Once upon a time', maxTokens: 120, temperature: 0 })
    // A stop sequence from the middle of the greedy text.
    const stop = base.text.slice(60, 66)
    const a = await run(native, { prompt: 'Once upon a time', maxTokens: 120, temperature: 0, stop: [stop] })
    const b = await run(plain, { prompt: 'Once upon a time', maxTokens: 120, temperature: 0, stop: [stop] })
    assert.equal(a.finishReason, 'stop')
    assert.equal(a.text, base.text.slice(0, base.text.indexOf(stop)))
    assert.ok(!a.text.includes(stop))
    assert.equal(a.text, b.text)
    assert.deepEqual(a.usage, b.usage)
    assert.equal(a.usage.completionTokens, a.tokens.length, 'usage counts exactly the tokens reported')
    assert.ok(a.usage.completionTokens < base.usage.completionTokens)
  })

  it('honours maxTokens and counts prompt and completion tokens exactly', async () => {
    for (const maxTokens of [1, 2, 17, 64]) {
      const a = await run(native, { prompt: 'Once upon a time', maxTokens, temperature: 0 })
      assert.equal(a.finishReason, 'length')
      assert.equal(a.usage.completionTokens, maxTokens)
      assert.equal(a.tokens.length, maxTokens)
      const b = await run(plain, { prompt: 'Once upon a time', maxTokens, temperature: 0 })
      assert.deepEqual(a.usage, b.usage)
    }
    // Without maxTokens the rest of the context is the limit, unless the model ends (EOG) first.
    for (const seed of [1, 2, 3]) {
      const req = { messages: [{ role: 'user' as const, content: 'Hi' }], temperature: 1, seed }
      const a = await run(native, req)
      const b = await run(plain, req)
      assert.equal(a.usage.completionTokens, a.tokens.length)
      assert.deepEqual(a.tokens, b.tokens)
      assert.equal(a.finishReason, b.finishReason)
      assert.equal(a.usage.promptTokens + a.usage.completionTokens <= 512, true)
    }
  })

  it('refuses a prompt longer than the context with PLX_ERR_CONTEXT_LENGTH', async () => {
    await assert.rejects(native.generate({ model: 'm', prompt: 'Once upon a time '.repeat(200), maxTokens: 10 }), { code: 'PLX_ERR_CONTEXT_LENGTH' })
    await assert.rejects(native.generate({ model: 'm', prompt: 'Once upon a time', maxTokens: 600 }), { code: 'PLX_ERR_CONTEXT_LENGTH' })
  })

  it('aborts mid-generation, frees the slot, and the context generates correctly afterwards', async () => {
    const engine = await engineWith({ nativeLoop: true, parallel: 1 })
    try {
      const expected = await run(engine, { prompt: 'Once upon a time', maxTokens: 40, temperature: 0 })
      const controller = new AbortController()
      let pieces = 0
      const long = engine.generate({ model: 'm', prompt: 'The little dog', maxTokens: 480, temperature: 1, seed: 1 }, {
        signal: controller.signal,
        onText: () => { if (++pieces === 3) controller.abort() }
      })
      await assert.rejects(long, { code: 'PLX_ERR_ABORTED' })
      assert.equal(pieces, 3, 'no text after the abort')
      assert.deepEqual(engine.queueStats(), { active: 0, waiting: 0 })
      // The only sequence is free and its cache consistent: the same greedy answer as before.
      const after = await run(engine, { prompt: 'Once upon a time', maxTokens: 40, temperature: 0 })
      assert.deepEqual(after.tokens, expected.tokens)
      // A waiting request is cancelled by its signal too.
      const c2 = new AbortController()
      const first = engine.generate({ model: 'm', prompt: 'Once', maxTokens: 200, temperature: 0 })
      const waiting = engine.generate({ model: 'm', prompt: 'Once', maxTokens: 5 }, { signal: c2.signal })
      c2.abort()
      await assert.rejects(waiting, { code: 'PLX_ERR_ABORTED' })
      assert.equal((await first).usage.completionTokens > 0, true)
    } finally {
      await engine.stop()
    }
  })

  it('runs parallel generations on separate contexts with the same results as one at a time', async () => {
    const reqs = [1, 2, 3, 4].map(seed => ({ prompt: 'Once upon a time', maxTokens: 60, temperature: 0.8, seed }))
    const alone = []
    for (const r of reqs) alone.push(await run(native, r))
    const together = await Promise.all(reqs.map(async r => await run(native, r)))
    assert.deepEqual(together.map(t => t.tokens), alone.map(t => t.tokens))
  })
})

describe('native generation loop behind the OpenAI API', () => {
  let t: TestNode
  let client: OpenAI

  before(async () => {
    t = await startTestNode({ inference: { nativeLoop: true } })
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused-on-an-open-loopback-node', maxRetries: 0 })
  })
  after(async () => { await t.close() })

  it('streams a chat completion with exact usage, the same text as without streaming, over real HTTP', async () => {
    const body = { model: 'stories260K', messages: [{ role: 'user' as const, content: 'Tell me a story about a cat.' }], max_tokens: 64, temperature: 0.7, seed: 11 }
    const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } })
    let text = ''
    let usage: OpenAI.CompletionUsage | null | undefined
    let finish: string | null = null
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      if (chunk.usage != null) usage = chunk.usage
    }
    const whole = await client.chat.completions.create(body)
    assert.equal(text, whole.choices[0]!.message.content)
    assert.ok(text.length > 0)
    assert.equal(finish, whole.choices[0]!.finish_reason)
    assert.deepEqual(usage, whole.usage)
    const status = await (await fetch(`${t.url}/api/plexus/status`)).json() as { nativeLoop: { active: boolean, built: boolean } }
    assert.equal(status.nativeLoop.active, true)
    assert.equal(status.nativeLoop.built, true)
  })

  it('ends a stream at a stop sequence and frees the slot when the client disconnects', async () => {
    const r = await fetch(`${t.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 100, temperature: 0, stream: true, stop: ['.'] }) })
    const events = await readSse(r)
    assert.equal(events.at(-1), '[DONE]')
    const chunks = events.slice(0, -1).map(e => JSON.parse(e) as { choices: Array<{ text: string, finish_reason: string | null }> })
    const text = chunks.map(c => c.choices[0]?.text ?? '').join('')
    assert.ok(text.length > 0 && !text.includes('.'))
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'stop')

    const controller = new AbortController()
    const res = await fetch(`${t.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 480, temperature: 1, stream: true }), signal: controller.signal })
    await res.body!.getReader().read()
    controller.abort()
    for (let i = 0; i < 100 && t.node.engine.queueStats().active > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
    assert.deepEqual(t.node.engine.queueStats(), { active: 0, waiting: 0 })
    const next = await fetch(`${t.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'stories260K', prompt: 'Once', max_tokens: 5 }) })
    assert.equal(next.status, 200)
  })
})

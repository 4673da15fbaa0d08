import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import OpenAI, { APIError } from 'openai'
import { startTestNode, type TestNode } from '../helpers/node.js'

/**
 * The official `openai` client against a real node running the real stories260K model: if these
 * pass, existing OpenAI clients work unmodified.
 */
describe('OpenAI-compatible API with the openai client', () => {
  let t: TestNode
  let client: OpenAI

  before(async () => {
    t = await startTestNode()
    client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused-on-an-open-loopback-node', maxRetries: 0 })
  })
  after(async () => { await t.close() })

  it('lists and retrieves models', async () => {
    const page = await client.models.list()
    const ids = page.data.map(m => m.id)
    assert.deepEqual(ids, ['stories260K'])
    const m = await client.models.retrieve('stories260K')
    assert.equal(m.id, 'stories260K')
    assert.equal(m.object, 'model')
    assert.equal(m.owned_by, 'plexus')
  })

  it('answers a chat completion with exact usage', async () => {
    const r = await client.chat.completions.create({
      model: 'stories260K',
      messages: [{ role: 'user', content: 'Tell me a story about a cat.' }],
      max_tokens: 24,
      temperature: 0
    })
    assert.equal(r.object, 'chat.completion')
    assert.equal(r.choices.length, 1)
    const choice = r.choices[0]!
    assert.equal(choice.message.role, 'assistant')
    assert.ok(choice.message.content != null && choice.message.content.length > 0)
    assert.ok(choice.finish_reason === 'length' || choice.finish_reason === 'stop')
    assert.ok(r.usage != null)
    assert.ok(r.usage.prompt_tokens > 5)
    assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 24)
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)
    if (choice.finish_reason === 'length') assert.equal(r.usage.completion_tokens, 24)
  })

  it('streams a chat completion ending with usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'stories260K',
      messages: [{ role: 'user', content: 'Once upon a time' }],
      max_tokens: 16,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true }
    })
    let text = ''
    let finish: string | null = null
    let usage: OpenAI.CompletionUsage | null | undefined = null
    let chunks = 0
    for await (const chunk of stream) {
      chunks++
      assert.equal(chunk.object, 'chat.completion.chunk')
      const c = chunk.choices[0]
      if (c?.delta.content != null) text += c.delta.content
      if (c?.finish_reason != null) finish = c.finish_reason
      if (chunk.usage != null) usage = chunk.usage
    }
    assert.ok(chunks >= 3)
    assert.ok(text.length > 0)
    assert.ok(finish === 'length' || finish === 'stop')
    assert.ok(usage != null)
    assert.ok(usage.completion_tokens >= 1 && usage.completion_tokens <= 16)
  })

  it('gives the same streamed and non-streamed text for the same seed', async () => {
    const params = { model: 'stories260K', messages: [{ role: 'user' as const, content: 'A story' }], max_tokens: 20, temperature: 0.9, seed: 1234 }
    const plain = await client.chat.completions.create(params)
    const stream = await client.chat.completions.create({ ...params, stream: true })
    let streamed = ''
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? ''
    assert.equal(streamed, plain.choices[0]!.message.content)
  })

  it('answers text completions, streamed and not', async () => {
    const r = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 })
    assert.equal(r.object, 'text_completion')
    assert.ok(r.choices[0]!.text.length > 0)
    assert.equal(r.usage?.completion_tokens, 12)
    const stream = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? ''
    assert.equal(text, r.choices[0]!.text, 'greedy decoding is deterministic')
  })

  it('gives n choices: different with a seed (choice i as seed + i), identical greedy, streamed as not', async () => {
    // Prepare: choice i of n with seed s is what seed s + i gives alone.
    const ask = { model: 'stories260K', messages: [{ role: 'user' as const, content: 'Tell me a story' }], max_tokens: 12, temperature: 0.9 }
    const single = await Promise.all([5, 6, 7].map(async seed => await client.chat.completions.create({ ...ask, seed })))
    const alone = single.map(s => s.choices[0]!.message.content)

    // Execute
    const r = await client.chat.completions.create({ ...ask, seed: 5, n: 3 })
    const stream = await client.chat.completions.create({ ...ask, seed: 5, n: 3, stream: true })
    const streamed = ['', '', '']
    for await (const chunk of stream) for (const c of chunk.choices) streamed[c.index] += c.delta.content ?? ''
    const greedy = await client.chat.completions.create({ ...ask, temperature: 0, n: 2 })

    // Assert
    assert.deepEqual(r.choices.map(c => c.index), [0, 1, 2])
    assert.ok(new Set(alone).size > 1, 'different seeds, different stories')
    assert.deepEqual(r.choices.map(c => c.message.content), alone)
    assert.deepEqual(streamed, alone)
    assert.equal(r.usage?.completion_tokens, single.reduce((n, s) => n + s.usage!.completion_tokens, 0))
    assert.equal(r.usage?.prompt_tokens, 3 * single[0]!.usage!.prompt_tokens)
    assert.equal(greedy.choices[0]!.message.content, greedy.choices[1]!.message.content)
  })

  it('answers several prompts in one completions request, one choice each, streamed and not', async () => {
    // Prepare: what each prompt gives on its own.
    const prompts = ['Once upon a time', 'The cat', 'Lily went to the park']
    const alone = await Promise.all(prompts.map(async prompt => (await client.completions.create({ model: 'stories260K', prompt, max_tokens: 10, temperature: 0 })).choices[0]!.text))

    // Execute
    const r = await client.completions.create({ model: 'stories260K', prompt: prompts, max_tokens: 10, temperature: 0 })
    const stream = await client.completions.create({ model: 'stories260K', prompt: prompts, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } })
    const streamed = prompts.map(() => '')
    let usage: OpenAI.CompletionUsage | undefined
    for await (const chunk of stream) {
      for (const c of chunk.choices) streamed[c.index] += c.text
      if (chunk.usage != null) usage = chunk.usage
    }

    // Assert: choice i is prompt i's completion, in either form; usage adds them up.
    assert.deepEqual(r.choices.map(c => c.index), [0, 1, 2])
    assert.deepEqual(r.choices.map(c => c.text), alone)
    assert.deepEqual(streamed, alone)
    assert.equal(r.usage?.completion_tokens, 30)
    assert.equal(usage?.completion_tokens, 30)
    assert.equal(usage?.total_tokens, r.usage?.total_tokens)
    // Too many prompts is a clear 400.
    const tooMany = await client.completions.create({ model: 'stories260K', prompt: Array.from({ length: 17 }, () => 'x') }).catch(e => e)
    assert.ok(tooMany instanceof APIError)
    assert.equal(tooMany.status, 400)
  })

  it('stops at a stop sequence without returning it', async () => {
    const free = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0 })
    const text = free.choices[0]!.text
    const word = text.trim().split(/\s+/)[2]
    assert.ok(word != null && word.length > 0)
    const stopped = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: [word] })
    assert.equal(stopped.choices[0]!.finish_reason, 'stop')
    assert.equal(stopped.choices[0]!.text, text.slice(0, text.indexOf(word)))
  })

  it('creates embeddings as floats and as base64 of the same vector', async () => {
    const f = await client.embeddings.create({ model: 'stories260K', input: ['Once upon a time', 'a cat'], encoding_format: 'float' })
    assert.equal(f.data.length, 2)
    const v0 = f.data[0]!.embedding
    assert.equal(v0.length, 64)
    assert.ok(v0.every(x => Number.isFinite(x)))
    assert.notDeepEqual(v0, f.data[1]!.embedding)
    assert.ok(f.usage.prompt_tokens > 2)
    // The openai client decodes base64 itself and hands back numbers.
    const b = await client.embeddings.create({ model: 'stories260K', input: 'Once upon a time', encoding_format: 'base64' })
    const decoded = b.data[0]!.embedding as unknown
    const bytes = typeof decoded === 'string' ? Buffer.from(decoded, 'base64') : null
    const values = bytes != null ? [...new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)] : decoded as number[]
    assert.equal(values.length, 64)
    values.forEach((x, i) => assert.ok(Math.abs(x - v0[i]!) < 1e-4, `component ${i}`))
  })

  it('constrains output to a JSON schema, and to any JSON object, streamed or not', async () => {
    // Prepare: a schema whose every value is bounded, so even this tiny model finishes it.
    const schema = {
      type: 'object',
      properties: { happy: { type: 'boolean' }, mood: { enum: ['sunny', 'rainy'] }, count: { type: 'integer' } },
      required: ['happy', 'mood', 'count']
    }
    const request = (seed: number): OpenAI.ChatCompletionCreateParamsNonStreaming => ({
      model: 'stories260K',
      messages: [{ role: 'user', content: 'Tell me a story' }],
      response_format: { type: 'json_schema', json_schema: { name: 'story', schema } },
      max_tokens: 120,
      temperature: 0.8,
      seed
    })
    for (const seed of [1, 2, 3]) {
      // Execute
      const r = await client.chat.completions.create(request(seed))

      // Assert: the document is complete (the generation stopped where the value ended) and valid.
      const choice = r.choices[0]!
      assert.equal(choice.finish_reason, 'stop')
      const doc = JSON.parse(choice.message.content!) as Record<string, unknown>
      assert.deepEqual(Object.keys(doc).sort(), ['count', 'happy', 'mood'])
      assert.equal(typeof doc.happy, 'boolean')
      assert.ok(doc.mood === 'sunny' || doc.mood === 'rainy')
      assert.ok(Number.isInteger(doc.count))
    }
    // Streamed: the same document, in pieces.
    let streamed = ''
    for await (const chunk of await client.chat.completions.create({ ...request(1), stream: true })) streamed += chunk.choices[0]?.delta.content ?? ''
    assert.equal(streamed, (await client.chat.completions.create(request(1))).choices[0]!.message.content)
    // On /v1/completions too (as llama.cpp's server accepts it; the openai client's types lack it).
    const completion = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 120, temperature: 0.8, seed: 2, response_format: { type: 'json_schema', json_schema: { name: 'story', schema } } } as OpenAI.CompletionCreateParamsNonStreaming)
    assert.equal(completion.choices[0]!.finish_reason, 'stop')
    assert.deepEqual(Object.keys(JSON.parse(completion.choices[0]!.text) as object).sort(), ['count', 'happy', 'mood'])
    // Any JSON object: free text inside strings can outrun max_tokens on this model, so what is
    // checked is that the output is an object from its first character and, if it stopped, whole.
    const free = await client.chat.completions.create({ ...request(0), response_format: { type: 'json_object' }, max_tokens: 60, temperature: 0 })
    const text = free.choices[0]!.message.content!
    assert.match(text, /^\{/)
    if (free.choices[0]!.finish_reason === 'stop') assert.equal(typeof JSON.parse(text), 'object')
    else assert.equal(free.usage?.completion_tokens, 60)
  })

  it('refuses a JSON schema it cannot turn into a grammar, before streaming', async () => {
    const bad = await client.chat.completions.create({
      model: 'stories260K',
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'no-such-type' } } },
      stream: true
    }).catch(e => e)
    assert.ok(bad instanceof APIError)
    assert.equal(bad.status, 400)
    assert.equal(bad.type, 'invalid_request_error')
    assert.match(bad.message, /JSON schema/)
  })

  it('surfaces errors as APIError with the right status and code', async () => {
    const unknown = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }).catch(e => e)
    assert.ok(unknown instanceof APIError)
    assert.equal(unknown.status, 404)
    assert.equal(unknown.code, 'model_not_found')

    const missing = await client.models.retrieve('no-such-model').catch(e => e)
    assert.ok(missing instanceof APIError)
    assert.equal(missing.status, 404)

    const negative = await client.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'hi' }], max_tokens: -1 }).catch(e => e)
    assert.ok(negative instanceof APIError)
    assert.equal(negative.status, 400)
    assert.equal(negative.type, 'invalid_request_error')

    const tooLong = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time there was a cat. '.repeat(100), max_tokens: 10 }).catch(e => e)
    assert.ok(tooLong instanceof APIError)
    assert.equal(tooLong.status, 400)
    assert.equal(tooLong.code, 'context_length_exceeded')

    const streamTooLong = await client.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'word '.repeat(600) }], stream: true }).catch(e => e)
    assert.ok(streamTooLong instanceof APIError, 'a stream that cannot start fails before the first byte')
    assert.equal(streamTooLong.status, 400)
    assert.equal(streamTooLong.code, 'context_length_exceeded')

    const maxTooBig = await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 100_000 }).catch(e => e)
    assert.ok(maxTooBig instanceof APIError)
    assert.equal(maxTooBig.code, 'context_length_exceeded')
  })
})

describe('OpenAI-compatible API with API keys', () => {
  let t: TestNode
  let key: string

  before(async () => {
    t = await startTestNode()
    key = t.node.keys.create('test-client').key
  })
  after(async () => { await t.close() })

  it('accepts the right key and refuses a wrong or missing one with 401', async () => {
    const ok = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: key, maxRetries: 0 })
    assert.equal((await ok.models.list()).data.length, 1)

    const wrong = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'plx_wrong', maxRetries: 0 })
    const e = await wrong.models.list().catch(err => err)
    assert.ok(e instanceof APIError)
    assert.equal(e.status, 401)
    assert.equal(e.code, 'invalid_api_key')

    const res = await fetch(`${t.url}/v1/models`)
    assert.equal(res.status, 401)
    assert.equal((await res.json() as { error: { code: string } }).error.code, 'missing_api_key')

    // Liveness stays open for probes.
    assert.equal((await fetch(`${t.url}/health`)).status, 200)
  })

  it('stops accepting a key once revoked', async () => {
    const { key: other, info } = t.node.keys.create('short-lived')
    const c = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: other, maxRetries: 0 })
    assert.equal((await c.models.list()).data.length, 1)
    t.node.keys.revoke(info.id)
    const e = await c.models.list().catch(err => err)
    assert.ok(e instanceof APIError)
    assert.equal(e.status, 401)
  })
})

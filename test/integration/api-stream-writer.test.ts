import { describe, it, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import { jsonWithHole, openStream } from '../../src/api/generation.js'

/**
 * GETs `path` from the server and returns the body and the HTTP chunks it came in: Node's HTTP
 * client emits one 'data' event per chunk of a chunked response, however the bytes were split
 * into TCP reads, so the count is the number of writes the server made.
 */
async function get (port: number, path: string): Promise<{ body: string, chunks: string[] }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, res => {
      const chunks: string[] = []
      res.setEncoding('utf8')
      res.on('data', (c: string) => chunks.push(c))
      res.on('end', () => resolve({ body: chunks.join(''), chunks }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('openStream: chunks written in one turn of the event loop go out as one write', () => {
  let app: FastifyInstance
  let port = 0
  before(async () => {
    app = Fastify()
    app.get('/same-turn', async (_request, reply) => {
      const out = openStream(reply, 'text/plain')
      out.write('a')
      out.write('b')
      out.write('c')
      await new Promise(resolve => setTimeout(resolve, 20))
      out.write('d')
      await new Promise(resolve => setTimeout(resolve, 20))
      out.write('e')
      out.write('f')
      out.end()
      out.write('after end')
      return reply
    })
    app.get('/one-per-turn', async (_request, reply) => {
      const out = openStream(reply, 'text/plain')
      for (const piece of ['1', '2', '3']) {
        out.write(piece)
        await new Promise(resolve => setTimeout(resolve, 5))
      }
      out.end()
      return reply
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const address = app.server.address()
    port = typeof address === 'object' && address != null ? address.port : 0
  })
  after(async () => { await app.close() })

  it('coalesces same-turn writes, flushes what is queued on end, and drops writes after it', async () => {
    // Execute
    const { body, chunks } = await get(port, '/same-turn')
    // Assert: same bytes in the same order; a, b, c in one write; e, f flushed by end().
    assert.equal(body, 'abcdef')
    assert.deepEqual(chunks, ['abc', 'd', 'ef'])
  })

  it('sends a chunk written alone in its turn at once, without waiting for a later one', async () => {
    const { body, chunks } = await get(port, '/one-per-turn')
    assert.equal(body, '123')
    assert.deepEqual(chunks, ['1', '2', '3'])
  })
})

describe('jsonWithHole', () => {
  it('gives exactly JSON.stringify of the whole object for any text', () => {
    const make = (text: string): object => ({ id: 'chatcmpl-x', model: 'we"ird\\name', choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }] })
    const chunk = jsonWithHole(make)
    for (const text of ['', 'plain', '"quoted" \\ back\nslash', '\u2028\u0000\ud800 lone surrogate', 'ü 😀 \u0000plexus-0000000000000000\u0000']) {
      assert.equal(chunk(text), JSON.stringify(make(text)))
    }
  })

  it('falls back to serialising the object when the text appears in more than one place', () => {
    const make = (text: string): object => ({ a: text, b: text })
    const twice = jsonWithHole(make)
    assert.equal(twice('x"y'), JSON.stringify(make('x"y')))
  })
})

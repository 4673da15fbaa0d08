import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeFrame, readFrames, FrameError } from '../../../src/p2p/framing.js'

async function collect (chunks: Uint8Array[], max = 1024): Promise<unknown[]> {
  async function * source (): AsyncGenerator<Uint8Array> { for (const c of chunks) yield c }
  const out: unknown[] = []
  for await (const f of readFrames(source(), max)) out.push(f)
  return out
}

describe('length-prefixed JSON frames', () => {
  it('round-trips frames split and joined at any byte', async () => {
    const frames = [{ type: 'tokens', ids: [1, 2], text: 'héllo' }, { type: 'done' }, 'x', [1, { a: null }]]
    const bytes = Buffer.concat(frames.map(f => encodeFrame(f, 1024)))
    for (const size of [1, 3, 7, bytes.length]) {
      const chunks: Uint8Array[] = []
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
      assert.deepEqual(await collect(chunks), frames)
    }
  })

  it('refuses an oversized frame from its length alone, before buffering it', async () => {
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, 2048)
    await assert.rejects(collect([header], 1024), (e: FrameError) => e.reason === 'too-large')
    assert.throws(() => encodeFrame({ s: 'x'.repeat(2000) }, 1024), (e: FrameError) => e.reason === 'too-large')
  })

  it('refuses invalid UTF-8 or JSON, and a stream that ends inside a frame', async () => {
    const bad = encodeFrame('abc', 1024)
    bad.set([0xff, 0xfe, 0xfd], 5)
    await assert.rejects(collect([bad]), (e: FrameError) => e.reason === 'malformed')
    const notJson = encodeFrame('abc', 1024)
    notJson.set(new TextEncoder().encode('{x'), 4)
    await assert.rejects(collect([notJson]), (e: FrameError) => e.reason === 'malformed')
    await assert.rejects(collect([encodeFrame({ a: 1 }, 1024).subarray(0, 6)]), (e: FrameError) => e.reason === 'truncated')
    await assert.rejects(collect([new Uint8Array([0, 0])]), (e: FrameError) => e.reason === 'truncated')
  })
})

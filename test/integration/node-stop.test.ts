import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { once } from 'node:events'
import { startTestNode } from '../helpers/node.js'

// Stopping a node with connections that will never send a request: Node's server.close() does not
// count them as idle, so without the node closing them the stop would wait for their headers
// timeout (over a minute). The test's own timeout is the deadline, far below that.
describe('node stop', () => {
  it('closes connections that never sent a request, after an aborted stream too', { timeout: 30_000 }, async () => {
    const node = await startTestNode()
    const { port } = new URL(node.url)
    // A client that connects and says nothing (as a browser's preconnect does).
    const silent = connect(Number(port), '127.0.0.1')
    await once(silent, 'connect')
    const silentClosed = once(silent, 'close')
    // A streamed completion the client abandons after its first chunk (fetch keeps a spare connection).
    const ac = new AbortController()
    const res = await fetch(`${node.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 400, stream: true }),
      signal: ac.signal
    })
    assert.equal(res.status, 200)
    const first = await res.body!.getReader().read()
    assert.equal(first.done, false)
    ac.abort()
    await node.close()
    await silentClosed
    assert.equal(silent.destroyed, true)
    // The node is gone: a new connection is refused.
    await assert.rejects(fetch(`${node.url}/health`))
  })
})

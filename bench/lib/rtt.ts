import { randomBytes } from 'node:crypto'
import { createConnection, createServer } from 'node:net'
import type { Socket } from 'node:net'
import type { Stream } from '@libp2p/interface'
import { createHost } from '../../src/p2p/host.js'
import type { NetworkConfig } from '../../src/p2p/config.js'

/** Round-trip samples, ms. */
export interface RttSamples {
  /** 64-byte (or `bytes`) echo over an established stream/socket. */
  rtt: number[]
  /** libp2p only: `dialProtocol` on an existing connection (stream open + protocol negotiation). */
  open: number[]
  /** libp2p only: open a stream, send, get the echo back (what a request pays before its first byte). */
  openAndRtt: number[]
}

const ECHO = '/plexus-bench/echo/1.0.0'

/** Host settings of a bench node: 127.0.0.1, a random port, no mDNS, no bootstrap. */
export function loopbackNetworkConfig (): NetworkConfig {
  return {
    enabled: true,
    host: '127.0.0.1',
    port: 0,
    networkId: 'plexus-bench',
    bootstrap: [],
    mdns: false,
    maxConnections: 100,
    allowPeers: [],
    denyPeers: [],
    advertIntervalSeconds: 15,
    community: { serve: true, maxConcurrentJobs: 2, maxTokens: 1024, requestsPerMinutePerPeer: 60, models: [] }
  }
}

/** Sends `payload` and resolves with the time until as many bytes came back. */
function echoOnce (send: (b: Uint8Array) => void, onData: { fn: ((n: number) => void) | null }, payload: Uint8Array): Promise<number> {
  return new Promise((resolve) => {
    let got = 0
    const t0 = performance.now()
    onData.fn = (n) => {
      got += n
      if (got >= payload.byteLength) {
        onData.fn = null
        resolve(performance.now() - t0)
      }
    }
    send(payload)
  })
}

/**
 * Two libp2p hosts with the node's own stack (`createHost`: TCP, Noise, Yamux, identify, ping,
 * gossipsub, Kad-DHT) in this process, connected on 127.0.0.1; an echo protocol on one.
 *
 * @param n - round trips on one established stream
 * @param opens - stream opens measured
 * @param bytes - payload size
 */
export async function libp2pRtt (n = 2000, opens = 200, bytes = 64): Promise<RttSamples> {
  const server = await createHost(randomBytes(32), loopbackNetworkConfig(), 'bench')
  const client = await createHost(randomBytes(32), loopbackNetworkConfig(), 'bench')
  try {
    await server.handle(ECHO, async (stream) => {
      for await (const chunk of stream) stream.send(chunk)
      await stream.close()
    }, { maxInboundStreams: 1024 })
    await client.dial(server.getMultiaddrs()[0]!)
    // Let identify and the services' own streams settle.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const payload = randomBytes(bytes)
    const listen = (s: Stream): { fn: ((n: number) => void) | null } => {
      const holder: { fn: ((n: number) => void) | null } = { fn: null }
      s.addEventListener('message', (e) => { holder.fn?.(e.data.byteLength) })
      return holder
    }
    const stream = await client.dialProtocol(server.peerId, ECHO)
    const h = listen(stream)
    const rtt: number[] = []
    for (let i = 0; i < n + 200; i++) {
      const t = await echoOnce((b) => stream.send(b), h, payload)
      if (i >= 200) rtt.push(t)
    }
    await stream.close()
    const open: number[] = []
    const openAndRtt: number[] = []
    for (let i = 0; i < opens + 20; i++) {
      const t0 = performance.now()
      const s = await client.dialProtocol(server.peerId, ECHO)
      const t1 = performance.now()
      await echoOnce((b) => s.send(b), listen(s), payload)
      const t2 = performance.now()
      if (i >= 20) { open.push(t1 - t0); openAndRtt.push(t2 - t0) }
      await s.close()
    }
    return { rtt, open, openAndRtt }
  } finally {
    await client.stop()
    await server.stop()
  }
}

/**
 * Plain TCP echo on 127.0.0.1 in this process (Nagle off, like libp2p's TCP transport).
 *
 * @param n - round trips
 * @param bytes - payload size
 */
export async function tcpRtt (n = 2000, bytes = 64): Promise<RttSamples> {
  const server = createServer((sock) => { sock.setNoDelay(true); sock.on('data', (d) => sock.write(d)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address != null ? address.port : 0
  const sock: Socket = createConnection({ host: '127.0.0.1', port, noDelay: true })
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
  try {
    const holder: { fn: ((n: number) => void) | null } = { fn: null }
    sock.on('data', (d) => { holder.fn?.(d.byteLength) })
    const payload = randomBytes(bytes)
    const rtt: number[] = []
    for (let i = 0; i < n + 200; i++) {
      const t = await echoOnce((b) => sock.write(b), holder, payload)
      if (i >= 200) rtt.push(t)
    }
    return { rtt, open: [], openAndRtt: [] }
  } finally {
    sock.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
}

import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FileServer {
  /** `http://127.0.0.1:<port>` */
  url: string
  /** Paths requested so far, in order. */
  requests: string[]
  /** Sends the rest of every response held by `holdAfter`. */
  release: () => void
  close: () => Promise<void>
}

/**
 * A plain HTTP server on 127.0.0.1 serving fixed bodies by path (404 for anything else), with a
 * Content-Length and an ETag, for tests that pull models over real HTTP. `holdAfter` names paths
 * whose responses stop after that many bytes until `release()`: a download caught midway.
 */
export async function serveFiles (files: Record<string, Buffer>, options: { holdAfter?: Record<string, number> } = {}): Promise<FileServer> {
  const requests: string[] = []
  const held: Array<() => void> = []
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    requests.push(path)
    res.setHeader('connection', 'close')
    const body = files[path]
    if (body == null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length), etag: `"${body.length}"` })
    const hold = options.holdAfter?.[path]
    if (hold == null) {
      res.end(body)
      return
    }
    res.write(body.subarray(0, hold))
    held.push(() => res.end(body.subarray(hold)))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    release: () => { for (const send of held.splice(0)) send() },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

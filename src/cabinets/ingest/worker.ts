/**
 * Entry point of the parser worker thread: parses the files the main thread asks for, one at a
 * time, and replies with the document or the error. See sandbox.ts.
 */
import { parentPort } from 'node:worker_threads'
import { parseFileInProcess } from './formats.js'
import { toWire, type ParseReply, type ParseRequest } from './worker-protocol.js'

const port = parentPort
if (port === null) throw new Error('worker.js must run in a worker thread')

port.on('message', (request: ParseRequest) => {
  void parseFileInProcess(request.path, { maxBytes: request.maxBytes }).then(
    (doc): ParseReply => ({ id: request.id, ok: true, doc }),
    (err: unknown): ParseReply => ({ id: request.id, ok: false, error: toWire(err) })
  ).then(reply => { port.postMessage(reply) })
})

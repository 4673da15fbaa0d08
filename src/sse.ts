/**
 * Reads a Server-Sent Events body and yields each event's `data:` payload, until `[DONE]`. An
 * event larger than `maxEventBytes` is an error, so a runaway server cannot exhaust memory.
 */
export async function * sseData (body: ReadableStream<Uint8Array>, maxEventBytes = 4 * 1024 * 1024): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n/g, '\n')
    let i: number
    while ((i = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, i)
      buffer = buffer.slice(i + 2)
      const data = event.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trimStart()).join('\n')
      if (data === '') continue
      if (data === '[DONE]') return
      yield data
    }
    if (buffer.length > maxEventBytes) throw new Error(`server sent an event larger than ${maxEventBytes} bytes`)
  }
}

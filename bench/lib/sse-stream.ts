/** Timings of one streamed OpenAI-style request, in ms of `performance.now()`. */
export interface StreamSample {
  tStart: number
  /** Response headers received. */
  tHeaders: number
  /** First and last event carrying text. */
  tFirst: number
  tLast: number
  /** Arrival time (ms after `tStart`) of every event carrying text. */
  arrivals: number[]
  /** Network reads that delivered at least one text event. */
  reads: number
  completionTokens: number
  promptTokens: number
  text: string
  /** `plexus.route.kind` of the final chunk, when the server said. */
  route: string | null
}

/**
 * Sends one streaming POST (`stream: true`, `stream_options.include_usage`) and times every SSE
 * event: first/last text event, the arrival of each, and the final usage.
 *
 * @param url - e.g. `http://127.0.0.1:PORT/v1/completions`
 * @param body - request body (stream fields are added)
 * @param headers - extra request headers (e.g. `X-Plexus-Privacy`)
 */
export async function streamTimed (url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<StreamSample> {
  const tStart = performance.now()
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } })
  })
  const tHeaders = performance.now()
  if (!res.ok || res.body == null) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`)
  const decoder = new TextDecoder()
  let buffer = ''
  let tFirst = 0
  let tLast = 0
  let reads = 0
  let completionTokens = -1
  let promptTokens = -1
  let route: string | null = null
  let text = ''
  let done = false
  const arrivals: number[] = []
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    const now = performance.now()
    buffer += decoder.decode(bytes, { stream: true })
    let sawText = false
    let nl: number
    while ((nl = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 2)
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue
        const data = line.slice(5).trim()
        if (data === '[DONE]') { done = true; continue }
        const chunk = JSON.parse(data) as {
          choices?: Array<{ text?: string, delta?: { content?: string | null } }>
          usage?: { completion_tokens?: number, prompt_tokens?: number } | null
          plexus?: { route?: { kind?: string } }
          error?: { message?: string }
        }
        if (chunk.error != null) throw new Error(`${url}: error event: ${chunk.error.message ?? data}`)
        const piece = chunk.choices?.[0]?.delta?.content ?? chunk.choices?.[0]?.text ?? ''
        if (piece.length > 0) {
          if (tFirst === 0) tFirst = now
          tLast = now
          text += piece
          arrivals.push(now - tStart)
          sawText = true
        }
        if (chunk.plexus?.route?.kind != null) route = chunk.plexus.route.kind
        if (chunk.usage?.completion_tokens != null) completionTokens = chunk.usage.completion_tokens
        if (chunk.usage?.prompt_tokens != null) promptTokens = chunk.usage.prompt_tokens
      }
    }
    if (sawText) reads++
  }
  if (!done) throw new Error(`${url}: stream ended without data: [DONE]`)
  if (completionTokens < 0) throw new Error(`${url}: no usage in the stream`)
  return { tStart, tHeaders, tFirst, tLast, arrivals, reads, completionTokens, promptTokens, text, route }
}

/** Time to first token, ms. */
export function ttftMs (s: StreamSample): number {
  return s.tFirst - s.tStart
}

/** Decode rate seen by the client: (completion_tokens − 1) / (t_last − t_first), tokens per second. */
export function decodeTps (s: StreamSample): number {
  return s.completionTokens > 1 && s.tLast > s.tFirst ? (s.completionTokens - 1) / ((s.tLast - s.tFirst) / 1000) : Number.NaN
}

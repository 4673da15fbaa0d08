/**
 * A small Prometheus registry (text exposition format 0.0.4): counters, gauges computed at scrape
 * time, and histograms. Enough for a node's own metrics without a dependency.
 */

type Labels = Record<string, string>

function labelKey (labels: Labels): string {
  const keys = Object.keys(labels).sort()
  if (keys.length === 0) return ''
  return '{' + keys.map(k => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',') + '}'
}

class Counter {
  readonly values = new Map<string, number>()
  constructor (readonly name: string, readonly help: string) {}
  inc (labels: Labels = {}, by = 1): void {
    const k = labelKey(labels)
    this.values.set(k, (this.values.get(k) ?? 0) + by)
  }

  render (): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`]
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`)
    return lines.join('\n')
  }
}

class Histogram {
  readonly series = new Map<string, { labels: Labels, counts: number[], sum: number, count: number }>()
  constructor (readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe (labels: Labels, value: number): void {
    const k = labelKey(labels)
    let s = this.series.get(k)
    if (s == null) { s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }; this.series.set(k, s) }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++
    s.sum += value
    s.count++
  }

  render (): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: String(b) })} ${s.counts[i]}`))
      lines.push(`${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.count}`)
      lines.push(`${this.name}_sum${labelKey(s.labels)} ${s.sum}`)
      lines.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`)
    }
    return lines.join('\n')
  }
}

export interface GaugeSource {
  queue: () => { active: number, waiting: number }
  loadedModels: () => Array<{ name: string, memoryBytes: number }>
}

/** The node's metrics, exposed at `GET /metrics`. */
export class Metrics {
  readonly requests = new Counter('plexus_http_requests_total', 'HTTP requests by method, route and status code.')
  readonly latency = new Histogram('plexus_http_request_duration_seconds', 'HTTP request latency by route.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
  readonly timeToFirstToken = new Histogram('plexus_time_to_first_token_seconds', 'Time from receiving a generation request to its first token.', [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
  readonly completionTokens = new Counter('plexus_tokens_generated_total', 'Completion tokens generated, by model.')
  readonly promptTokens = new Counter('plexus_prompt_tokens_total', 'Prompt tokens evaluated, by model.')
  readonly generations = new Counter('plexus_generations_total', 'Generations by model and outcome (stop, length, cancelled, error).')
  readonly routed = new Counter('plexus_routed_generations_total', 'Completed generations by where they ran (local, peer, cloud).')
  readonly #gauges: GaugeSource
  readonly #startedAt = Date.now()

  constructor (gauges: GaugeSource) {
    this.#gauges = gauges
  }

  render (): string {
    const q = this.#gauges.queue()
    const loaded = this.#gauges.loadedModels()
    const gauge = (name: string, help: string, rows: Array<[Labels, number]>): string =>
      [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...rows.map(([l, v]) => `${name}${labelKey(l)} ${v}`)].join('\n')
    return [
      this.requests.render(),
      this.latency.render(),
      this.timeToFirstToken.render(),
      this.completionTokens.render(),
      this.promptTokens.render(),
      this.generations.render(),
      this.routed.render(),
      gauge('plexus_queue_depth', 'Generation requests waiting for a free sequence.', [[{}, q.waiting]]),
      gauge('plexus_active_generations', 'Generations running now.', [[{}, q.active]]),
      gauge('plexus_models_loaded', 'Models loaded in memory.', [[{}, loaded.length]]),
      gauge('plexus_model_memory_bytes', 'Estimated memory held by each loaded model.', loaded.map(m => [{ model: m.name }, m.memoryBytes])),
      gauge('plexus_uptime_seconds', 'Seconds since the node started.', [[{}, Math.floor((Date.now() - this.#startedAt) / 1000)]])
    ].join('\n') + '\n'
  }
}

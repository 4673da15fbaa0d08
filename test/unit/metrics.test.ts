import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Metrics, type GaugeSource } from '../../src/api/metrics.js'

interface Sample { name: string, labels: Record<string, string>, value: number }
interface Family { name: string, help: string | null, type: string | null, samples: Sample[] }

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*'
const SAMPLE_RE = new RegExp(`^(${METRIC_NAME})(?:\\{(.*)\\})? (\\S+)$`)
const LABEL_RE = new RegExp(`^(${LABEL_NAME})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"(,|$)`)
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function unescapeLabel (v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => c === 'n' ? '\n' : c)
}

function parseLabels (text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let rest = text
  while (rest !== '') {
    const m = LABEL_RE.exec(rest)
    assert.ok(m != null, `bad label set in: ${line}`)
    assert.equal(labels[m[1]!], undefined, `duplicate label ${m[1]} in: ${line}`)
    labels[m[1]!] = unescapeLabel(m[2]!)
    rest = rest.slice(m[0].length)
  }
  return labels
}

/** The family a sample belongs to: histogram samples carry a _bucket, _sum or _count suffix. */
function familyOf (sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample)
  const m = /^(.*)_(bucket|sum|count)$/.exec(sample)
  return m != null ? families.get(m[1]!) : undefined
}

/**
 * A strict reader of the Prometheus text format 0.0.4: every line is HELP, TYPE or a sample; HELP
 * and TYPE come once per family, before its samples; a family's samples are contiguous.
 */
function parseExposition (text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'exposition must end with a line feed')
  const families = new Map<string, Family>()
  let current: Family | undefined
  const finished = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    assert.notEqual(line, '', 'empty line in exposition')
    const meta = new RegExp(`^# (HELP|TYPE) (${METRIC_NAME}) (.*)$`).exec(line)
    if (meta != null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string]
      if (current != null && current.name !== name) finished.add(current.name)
      assert.ok(!finished.has(name), `family ${name} is split: ${line}`)
      const f = families.get(name) ?? { name, help: null, type: null, samples: [] }
      families.set(name, f)
      assert.equal(f.samples.length, 0, `${kind} after samples of ${name}`)
      if (kind === 'HELP') {
        assert.equal(f.help, null, `second HELP for ${name}`)
        f.help = rest
      } else {
        assert.equal(f.type, null, `second TYPE for ${name}`)
        assert.ok(TYPES.has(rest), `unknown type ${rest}`)
        f.type = rest
      }
      current = f
      continue
    }
    assert.ok(!line.startsWith('#'), `unexpected comment: ${line}`)
    const m = SAMPLE_RE.exec(line)
    assert.ok(m != null, `bad sample line: ${line}`)
    const family = familyOf(m[1]!, families)
    assert.ok(family != null && family === current, `sample outside its family: ${line}`)
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3])
    assert.ok(!Number.isNaN(value) || m[3] === 'NaN', `bad value in: ${line}`)
    family.samples.push({ name: m[1]!, labels: parseLabels(m[2] ?? '', line), value })
  }
  for (const f of families.values()) {
    assert.ok(f.help != null && f.type != null, `${f.name} lacks HELP or TYPE`)
  }
  return families
}

function stubGauges (over: Partial<ReturnType<GaugeSource['queue']>> = {}, loaded: Array<{ name: string, memoryBytes: number }> = []): GaugeSource {
  return {
    queue: () => ({ active: 0, waiting: 0, ...over }),
    loadedModels: () => loaded
  }
}

/** Groups a histogram's samples by their labels without `le`. */
function histogramSeries (family: Family): Map<string, { buckets: Array<[number, number]>, sum: number, count: number }> {
  const series = new Map<string, { buckets: Array<[number, number]>, sum: number, count: number }>()
  for (const s of family.samples) {
    const { le, ...rest } = s.labels
    const k = JSON.stringify(Object.entries(rest).sort())
    const entry = series.get(k) ?? { buckets: [], sum: NaN, count: NaN }
    series.set(k, entry)
    if (s.name.endsWith('_bucket')) {
      assert.ok(le != null, `bucket without le: ${s.name}`)
      entry.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value])
    } else if (s.name.endsWith('_sum')) entry.sum = s.value
    else if (s.name.endsWith('_count')) entry.count = s.value
  }
  return series
}

describe('Metrics.render', () => {
  it('is valid exposition text with HELP and TYPE for every family, even with no data', () => {
    // Prepare
    const metrics = new Metrics(stubGauges())

    // Execute
    const families = parseExposition(metrics.render())

    // Assert
    assert.equal(families.get('plexus_http_requests_total')?.type, 'counter')
    assert.equal(families.get('plexus_http_request_duration_seconds')?.type, 'histogram')
    assert.equal(families.get('plexus_time_to_first_token_seconds')?.type, 'histogram')
    assert.equal(families.get('plexus_tokens_generated_total')?.type, 'counter')
    assert.equal(families.get('plexus_prompt_tokens_total')?.type, 'counter')
    assert.equal(families.get('plexus_generations_total')?.type, 'counter')
    for (const name of ['plexus_queue_depth', 'plexus_active_generations', 'plexus_models_loaded', 'plexus_model_memory_bytes', 'plexus_uptime_seconds']) {
      assert.equal(families.get(name)?.type, 'gauge', name)
    }
    assert.equal(families.get('plexus_http_requests_total')?.samples.length, 0)
  })

  it('renders counters and gauges with their labels and values', () => {
    // Prepare
    const metrics = new Metrics(stubGauges({ active: 2, waiting: 5 }, [{ name: 'tiny', memoryBytes: 1_048_576 }, { name: 'big', memoryBytes: 4096 }]))
    metrics.requests.inc({ method: 'GET', route: '/v1/models', status: '200' })
    metrics.requests.inc({ status: '200', route: '/v1/models', method: 'GET' })
    metrics.requests.inc({ method: 'POST', route: '/v1/chat/completions', status: '429' })
    metrics.completionTokens.inc({ model: 'tiny' }, 17)

    // Execute
    const families = parseExposition(metrics.render())

    // Assert
    assert.deepEqual(families.get('plexus_http_requests_total')?.samples, [
      { name: 'plexus_http_requests_total', labels: { method: 'GET', route: '/v1/models', status: '200' }, value: 2 },
      { name: 'plexus_http_requests_total', labels: { method: 'POST', route: '/v1/chat/completions', status: '429' }, value: 1 }
    ])
    assert.deepEqual(families.get('plexus_tokens_generated_total')?.samples, [
      { name: 'plexus_tokens_generated_total', labels: { model: 'tiny' }, value: 17 }
    ])
    assert.equal(families.get('plexus_queue_depth')?.samples[0]?.value, 5)
    assert.equal(families.get('plexus_active_generations')?.samples[0]?.value, 2)
    assert.equal(families.get('plexus_models_loaded')?.samples[0]?.value, 2)
    assert.deepEqual(families.get('plexus_model_memory_bytes')?.samples.map(s => [s.labels.model, s.value]), [['tiny', 1_048_576], ['big', 4096]])
    const uptime = families.get('plexus_uptime_seconds')?.samples[0]?.value
    assert.ok(uptime != null && Number.isInteger(uptime) && uptime >= 0)
  })

  it('escapes backslashes, double quotes and line feeds in label values', () => {
    // Prepare
    const nasty = 'a\\b "quoted"\nnext'
    const metrics = new Metrics(stubGauges({}, [{ name: nasty, memoryBytes: 1 }]))
    metrics.requests.inc({ method: 'GET', route: nasty, status: '404' })

    // Execute
    const text = metrics.render()
    const families = parseExposition(text)

    // Assert
    assert.ok(text.includes('route="a\\\\b \\"quoted\\"\\nnext"'))
    assert.equal(families.get('plexus_http_requests_total')?.samples[0]?.labels.route, nasty)
    assert.equal(families.get('plexus_model_memory_bytes')?.samples[0]?.labels.model, nasty)
  })

  it('renders cumulative histogram buckets ending in +Inf equal to the count', () => {
    // Prepare
    const metrics = new Metrics(stubGauges())
    const observations = [0.003, 0.004, 0.02, 0.3, 0.3, 7, 45, 120]
    for (const v of observations) metrics.latency.observe({ route: '/v1/chat/completions' }, v)
    metrics.latency.observe({ route: '/v1/models' }, 0.001)

    // Execute
    const families = parseExposition(metrics.render())
    const series = histogramSeries(families.get('plexus_http_request_duration_seconds')!)

    // Assert
    assert.equal(series.size, 2)
    for (const { buckets, sum, count } of series.values()) {
      assert.ok(buckets.length > 1)
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i]![0] > buckets[i - 1]![0], 'le must increase')
        assert.ok(buckets[i]![1] >= buckets[i - 1]![1], 'bucket counts must be cumulative')
      }
      const last = buckets[buckets.length - 1]!
      assert.equal(last[0], Infinity)
      assert.equal(last[1], count)
      assert.ok(!Number.isNaN(sum))
    }
    const chat = series.get(JSON.stringify([['route', '/v1/chat/completions']]))!
    assert.equal(chat.count, observations.length)
    assert.ok(Math.abs(chat.sum - observations.reduce((a, b) => a + b, 0)) < 1e-9)
    const at = (le: number): number | undefined => chat.buckets.find(([b]) => b === le)?.[1]
    assert.equal(at(0.005), 2)
    assert.equal(at(0.025), 3)
    assert.equal(at(0.25), 3)
    assert.equal(at(0.5), 5)
    assert.equal(at(10), 6)
    assert.equal(at(60), 7)
  })

  it('counts a value equal to a bucket bound in that bucket', () => {
    // Prepare
    const metrics = new Metrics(stubGauges())
    metrics.timeToFirstToken.observe({ model: 'tiny' }, 0.1)

    // Execute
    const series = histogramSeries(parseExposition(metrics.render()).get('plexus_time_to_first_token_seconds')!)

    // Assert
    const [only] = [...series.values()]
    assert.equal(only?.buckets.find(([b]) => b === 0.05)?.[1], 0)
    assert.equal(only?.buckets.find(([b]) => b === 0.1)?.[1], 1)
    assert.equal(only?.count, 1)
  })
})

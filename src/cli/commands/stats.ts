import { InvalidArgumentError, type Command } from 'commander'
import { PlexusError } from '../../errors.js'
import type { QueryAnswer, SiteOutcome } from '../../analytics/service.js'
import type { StatsResult } from '../../analytics/pool.js'
import type { Approval, AuditEntry } from '../../analytics/site.js'
import { STATS_FUNCTIONS } from '../../analytics/functions.js'
import { nodeFor, callNode } from '../client.js'
import { output, table, type GlobalOptions } from '../output.js'
import { intOption, numberOption } from '../parse.js'
import { datasetName, viaNode } from './data.js'
import { shortPeerId } from './network.js'

const URL_HELP = 'node to ask from (default: the one running on the data directory; or PLEXUS_URL)'

interface QueryFlags {
  dataset: string
  fn: string
  col?: string[]
  by?: string
  where?: string
  peers?: string[]
  bins?: number
  range?: [number, number]
  probs?: number[]
  mu?: number
  family?: 'gaussian' | 'binomial'
  success?: string
  epsilon?: number
  partial?: boolean
  secure?: boolean
  url?: string
}

function collect (value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map(s => s.trim()).filter(s => s !== '')]
}

function numbers (flag: string, count?: number): (value: string) => number[] {
  return (value: string) => {
    const parts = value.split(',').map(s => Number(s.trim()))
    if (parts.some(n => !Number.isFinite(n)) || (count != null && parts.length !== count)) {
      throw new InvalidArgumentError(`${flag} takes ${count != null ? `${count} numbers` : 'numbers'} separated by commas.`)
    }
    return parts
  }
}


const fmt = (v: number | null | undefined): string => v == null ? '—' : Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? v.toPrecision(6) : v.toExponential(4)

/** A pooled (or per-site) result as text. */
export function describeResult (r: StatsResult): string {
  switch (r.fn) {
    case 'count': return `n = ${r.n}`
    case 'sum': case 'mean': case 'var': case 'sd':
      return table([...(r.by != null ? [r.by.toUpperCase()] : []), 'COLUMN', 'N', r.fn.toUpperCase()], r.groups.flatMap(g => g.values.map(v => [
        ...(r.by != null ? [g.level ?? ''] : []), v.column, g.suppressed ? 'suppressed' : v.n, g.suppressed ? '—' : fmt(v.value)
      ])))
    case 'histogram':
      return table(['BIN', 'COUNT'], [
        [`< ${fmt(r.edges[0])}`, r.below],
        ...r.counts.map((c, i) => [`[${fmt(r.edges[i])}, ${fmt(r.edges[i + 1])}${i === r.counts.length - 1 ? ']' : ')'}`, r.suppressed.includes(i + 1) ? `${c} (suppressed)` : c]),
        [`> ${fmt(r.edges.at(-1))}`, r.above]
      ])
    case 'quantiles':
      return table(['P', r.column.toUpperCase()], r.probs.map((p, i) => [p, fmt(r.quantiles[i])])) + `\n(n = ${r.n}; from fixed-bin histograms, interpolated within a bin)`
    case 'table': {
      const [a, b] = r.levels
      const width = b ?? ['n']
      const flat = (i: number, j: number): number => i * width.length + j
      return table([r.columns.join(' \\ '), ...width], a!.map((l, i) => [l, ...width.map((_w, j) => r.suppressed.includes(flat(i, j)) ? 'suppressed' : r.counts[i]![j]!)]))
    }
    case 'cor':
      return table(['', ...r.columns], r.matrix.map((row, i) => [r.columns[i]!, ...row.map(v => fmt(v))])) + `\n(n = ${r.n})`
    case 'ttest':
      return [
        table([r.by ?? '', 'N', 'MEAN', 'VARIANCE'], r.levels.map((l, i) => [l, r.n[i]!, fmt(r.means[i]), fmt(r.variances[i])])),
        `${r.mu != null ? `one-sample t-test against ${r.mu}` : "Welch's two-sample t-test"}: t = ${fmt(r.t)}, df = ${fmt(r.df)}, p = ${fmt(r.p)}`
      ].join('\n')
    case 'chisq':
      return `Pearson's chi-square test of ${r.columns.join(' × ')}: X² = ${fmt(r.statistic)}, df = ${r.df}, p = ${fmt(r.p)}`
    case 'glm':
      return [
        table(['TERM', 'ESTIMATE', 'STD. ERROR', r.family === 'gaussian' ? 't' : 'z', 'p'], r.terms.map(t => [t.term, fmt(t.estimate), fmt(t.standardError), fmt(t.statistic), fmt(t.p)])),
        `${r.family} GLM on n = ${r.n}; deviance ${fmt(r.deviance)}, dispersion ${fmt(r.dispersion)}, ${r.iterations} IRLS rounds`
      ].join('\n')
  }
}

function siteLine (s: SiteOutcome): string {
  const what = s.status === 'queued' ? `queued for the owner's approval (${s.approval ?? ''})` : s.status === 'ok' ? 'answered' : `${s.status}: ${s.message ?? ''}`
  return `  ${shortPeerId(s.peer)}  ${what}`
}

export function describeAnswer (a: QueryAnswer): string {
  const lines = [`${a.query.fn} on '${a.query.dataset}' at ${a.sites.length} site(s)${a.secure ? ' (secure aggregation: totals only)' : ''}:`, ...a.sites.map(siteLine), '']
  if (a.pooled != null) lines.push(a.complete ? 'Pooled:' : 'Pooled over the sites that answered (--partial):', describeResult(a.pooled))
  else lines.push('No pooled result: not every site holding the dataset answered (see above; --partial pools the others).')
  return lines.join('\n')
}

export function registerStats (program: Command): void {
  const stats = program.command('stats').description('federated statistics: ask the sites of the network; only safe aggregates leave each site')

  stats
    .command('query')
    .description(`run an approved statistic across the sites and pool the answers (functions: ${STATS_FUNCTIONS.join(', ')})`)
    .requiredOption('--dataset <name>', 'dataset name at the sites')
    .requiredOption('--fn <fn>', `function: ${STATS_FUNCTIONS.join(', ')}`)
    .option('--col <column>', 'a column (repeat, or a,b,c); glm: the response first, then the predictors', collect)
    .option('--by <column>', 'group by a factor (sum/mean/var/sd), or the two groups of a t-test')
    .option('--where <expr>', "filter over allowed columns, e.g. \"age > 50 AND sex = 2\" (never SQL)")
    .option('--peers <ids>', "sites to ask (peer ids, comma-separated; 'self' for this node); default: this node and every known peer", collect)
    .option('--bins <n>', 'histogram/quantiles: number of bins', intOption('--bins', 1, 1000))
    .option('--range <low,high>', 'histogram/quantiles: the range the bins cover', numbers('--range', 2))
    .option('--probs <p,…>', 'quantiles: probabilities (default 0.05,0.1,0.25,0.5,0.75,0.9,0.95)', numbers('--probs'))
    .option('--mu <x>', 'one-sample t-test: the mean under the null hypothesis', numberOption('--mu', -1e300, 1e300))
    .option('--family <family>', 'glm: gaussian (linear) or binomial (logistic)')
    .option('--success <value>', 'glm binomial: the response value that counts as 1')
    .option('--epsilon <e>', 'differential privacy: ε each site spends from your budget (count, histogram, quantiles, table, chisq)', numberOption('--epsilon', 1e-6, 100))
    .option('--secure', 'secure aggregation: see only the totals, never a site\'s own figures (at least 3 sites)')
    .option('--partial', 'pool over the sites that answered even if others refused')
    .option('--url <url>', URL_HELP)
    .action(async (opts: QueryFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      if (opts.family != null && opts.family !== 'gaussian' && opts.family !== 'binomial') throw new PlexusError('PLX_ERR_BAD_REQUEST', ['--family must be gaussian or binomial'])
      const success = opts.success == null ? undefined : Number.isFinite(Number(opts.success)) && opts.success.trim() !== '' ? Number(opts.success) : opts.success
      const body = {
        dataset: datasetName(opts.dataset),
        fn: opts.fn,
        columns: opts.col ?? [],
        by: opts.by,
        where: opts.where,
        bins: opts.bins,
        range: opts.range,
        probs: opts.probs,
        mu: opts.mu,
        family: opts.family,
        success,
        epsilon: opts.epsilon,
        peers: opts.peers,
        partial: opts.partial,
        secure: opts.secure
      }
      const answer = await viaNode(async () => await callNode<QueryAnswer>(nodeFor(opts, g), 'POST', '/api/plexus/stats/query', body))
      output(g.json, answer, () => describeAnswer(answer))
      if (answer.pooled == null) process.exitCode = 1
    })
}

/** `plexus data approvals` and `plexus data audit`: the owner's side of statistics. */
export function registerStatsOwner (data: Command): void {
  const approvals = data
    .command('approvals')
    .description('statistics queries waiting for your approval (functions your policy does not auto-approve)')
    .option('--all', 'include decided ones')
    .option('--url <url>', URL_HELP)
    .action(async (opts: { all?: boolean, url?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const { approvals: list } = await viaNode(async () => await callNode<{ approvals: Approval[] }>(nodeFor(opts, g), 'GET', '/api/plexus/stats/approvals'))
      const shown = opts.all === true ? list : list.filter(a => a.status === 'pending')
      output(g.json, { approvals: shown }, () => shown.length === 0
        ? 'No queries wait for approval.'
        : table(['ID', 'STATUS', 'ANALYST', 'QUERY', 'REQUESTED'], shown.map(a => [a.id, a.status, shortPeerId(a.analyst), `${a.query.fn}(${[...a.query.columns, ...(a.query.by != null ? [`by ${a.query.by}`] : [])].join(', ')}) on ${a.query.dataset}${a.query.where != null ? ` where ${a.query.where}` : ''}`, a.requestedAt.slice(0, 19).replace('T', ' ')])))
    })
  for (const decision of ['approve', 'deny'] as const) {
    approvals
      .command(decision)
      .description(decision === 'approve' ? 'let the analyst run this exact query (they run it again)' : 'refuse this query for good')
      .argument('<id>', 'approval id')
      .option('--url <url>', URL_HELP)
      .action(async (id: string, opts: { url?: string }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>()
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid approval id '${id.slice(0, 80)}'`])
        const a = await viaNode(async () => await callNode<Approval>(nodeFor(opts, g), 'POST', `/api/plexus/stats/approvals/${id}/${decision}`))
        output(g.json, a, () => `${decision === 'approve' ? 'Approved' : 'Denied'} ${a.id} (${a.query.fn} on ${a.query.dataset} for ${shortPeerId(a.analyst)}).`)
      })
  }
  data
    .command('audit')
    .description('the statistics audit log: every query, its verdict and what was released')
    .option('--limit <n>', 'newest entries to show', intOption('--limit', 1, 100_000), 50)
    .option('--url <url>', URL_HELP)
    .action(async (opts: { limit: number, url?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const { entries } = await viaNode(async () => await callNode<{ entries: AuditEntry[] }>(nodeFor(opts, g), 'GET', `/api/plexus/stats/audit?limit=${opts.limit}`))
      output(g.json, { entries }, () => entries.length === 0
        ? 'No statistics queries yet.'
        : table(['TIME', 'ANALYST', 'QUERY', 'VERDICT', 'REASON'], entries.map(e => {
          const q = e.query as { fn?: string, dataset?: string } | null
          return [e.time.slice(0, 19).replace('T', ' '), shortPeerId(e.analyst), `${e.op} ${q?.fn ?? '?'} on ${q?.dataset ?? '?'}`, e.verdict, e.reason.slice(0, 80)]
        })))
    })
}

import { readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { z } from 'zod'
import { isPlexusError, PlexusError } from '../../errors.js'
import type { JobSummary } from '../../federated/service.js'
import type { RoundRecord } from '../../federated/types.js'
import { JobStateSchema } from '../../federated/store.js'
import { parseJobSpec, templateHash } from '../../federated/spec.js'
import { sseData } from '../../sse.js'
import { nodeFor, callNode, nodeFetch, NodeApiError, type NodeTarget } from '../client.js'
import { output, table, formatBytes, type GlobalOptions } from '../output.js'
import { fromNode, viaNode } from './data.js'
import { shortPeerId } from './network.js'

/** Largest spec file `fl create` reads (a tfjs model with its initial weights fits). */
export const MAX_SPEC_BYTES = 64 * 1024 * 1024
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/
const TERMINAL = new Set(['completed', 'failed', 'stopped'])
/** While following a job, how often its status is also read (a stop ends no event stream). */
const POLL_MS = 2000

/** A participation of this node in another node's job, as `GET /api/plexus/fl/jobs` lists it. */
export interface ParticipationInfo {
  jobId: string
  coordinator: string
  status: string
  reason: string | null
  receivedAt: string
  roundsTrained: number
  lastRound: number
  bytesSent: number
  name: string
  dataset: string
}

export interface JobDetail { job: JobSummary, history: RoundRecord[] }
export interface JobList { jobs: JobSummary[], participating: ParticipationInfo[] }

/** A round as the node records it (the store's own schema). */
const RoundRecordSchema = JobStateSchema.shape.history.element

/** One event of `GET /api/plexus/fl/jobs/:id/events`. */
const FlEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('round'), jobId: z.string(), record: RoundRecordSchema }),
  z.object({ type: z.literal('status'), jobId: z.string(), status: z.string(), reason: z.string().nullable() })
])
export type FlEvent = z.output<typeof FlEventSchema>

/** A job id as the node accepts it, or a one-sentence error. */
export function jobId (id: string): string {
  if (!JOB_ID.test(id)) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid job id '${id}': use up to 64 letters, digits, - and _ (as \`plexus fl status\` lists them)`])
  return id
}

/** Reads a job spec file: it must exist, be at most 64 MiB and hold a JSON object. The node validates the rest. */
export function readSpecFile (file: string): Record<string, unknown> {
  const path = resolve(file)
  let size: number
  try {
    const st = statSync(path)
    if (!st.isFile()) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`${file} is not a file`])
    size = st.size
  } catch (err) {
    if (isPlexusError(err)) throw err
    throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`cannot read ${file} (${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message})`])
  }
  if (size > MAX_SPEC_BYTES) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`${file} is ${size} bytes; a spec file may hold at most ${MAX_SPEC_BYTES} (64 MiB)`])
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`${file} is not JSON (${(err as Error).message})`])
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new PlexusError('PLX_ERR_FL_SPEC_INVALID', [`${file} must hold a JSON object (the job spec)`])
  return parsed as Record<string, unknown>
}

const fmt = (n: number | null | undefined, digits = 4): string => n == null ? '-' : n.toFixed(digits)

/** `round 3/10  clients 2/2  dropped 0  loss 0.3412  accuracy 0.9474  ε 1.23` */
export function roundLine (r: RoundRecord, rounds: number | null): string {
  return [
    `round ${r.round}${rounds != null ? `/${rounds}` : ''}`,
    `clients ${r.contributed.length}/${r.selected.length}`,
    `dropped ${r.dropped.length}`,
    ...(r.aborted != null ? [`ABORTED: ${r.aborted}`] : []),
    `loss ${fmt(r.trainLoss)}`,
    `accuracy ${fmt(r.evaluation?.accuracy)}`,
    `ε ${fmt(r.epsilon, 2)}`
  ].join('  ')
}

/** The last line of a followed job: how it ended. */
export function finalLine (id: string, status: string, reason: string | null, history: RoundRecord[]): string {
  const last = [...history].reverse().find(r => r.evaluation != null)
  if (status === 'completed') {
    return `${id} completed after ${history.length} round${history.length === 1 ? '' : 's'}${last != null ? `: accuracy ${fmt(last.evaluation?.accuracy)}` : ''}${reason != null ? ` (${reason})` : ''}`
  }
  return `${id} ${status}${reason != null ? `: ${reason}` : ''}`
}

function roundsTable (history: RoundRecord[]): string {
  if (history.length === 0) return 'No round has finished yet.'
  return table(['ROUND', 'CLIENTS', 'DROPPED', 'TRAIN LOSS', 'ACCURACY', 'EVAL LOSS', 'ε'], history.map(r => [
    r.round, r.aborted != null ? `aborted (${r.contributed.length}/${r.selected.length})` : `${r.contributed.length}/${r.selected.length}`, r.dropped.length, fmt(r.trainLoss), fmt(r.evaluation?.accuracy), fmt(r.evaluation?.loss), fmt(r.epsilon, 2)
  ]))
}

/** `plexus fl status JOB` for a job this node coordinates. */
export function describeJob ({ job, history }: JobDetail): string {
  return [
    `job           ${job.id} (${job.name})`,
    `status        ${job.status}${job.reason != null ? `: ${job.reason}` : ''}`,
    `round         ${job.round} of ${job.rounds}`,
    `participants  ${job.roster.length}${job.roster.length > 0 ? ` (${job.roster.map(shortPeerId).join(', ')})` : ''}; ${job.pending.length} pending, ${job.declined.length} declined`,
    ...job.declined.map(d => `  declined    ${shortPeerId(d.peer)}: ${d.reason}`),
    `parameters    ${job.parameters}`,
    `accuracy      ${fmt(job.lastAccuracy)}`,
    `ε             ${fmt(job.epsilon, 2)}`,
    `created       ${job.createdAt}`,
    '',
    roundsTable(history)
  ].join('\n')
}

/** `plexus fl status JOB` for another node's job this node was offered. */
export function describeParticipation (p: ParticipationInfo): string {
  return [
    `job           ${p.jobId} (${p.name})`,
    `coordinator   ${p.coordinator}`,
    `status        ${p.status}${p.reason != null ? `: ${p.reason}` : ''}`,
    `dataset       ${p.dataset}`,
    `trained       ${p.roundsTrained} round${p.roundsTrained === 1 ? '' : 's'} (last ${p.lastRound})`,
    `sent          ${formatBytes(p.bytesSent)}`,
    `offered       ${p.receivedAt}`,
    ...(p.status === 'pending' ? ['', `Approve with \`plexus fl join ${p.jobId}\`, or \`plexus fl decline ${p.jobId}\`.`] : [])
  ].join('\n')
}

/** `plexus fl status`: the jobs this node coordinates, then those it takes part in (pending offers included). */
export function describeJobs ({ jobs, participating }: JobList): string {
  if (jobs.length === 0 && participating.length === 0) return 'No federated learning jobs on this node.'
  const parts: string[] = []
  if (jobs.length > 0) {
    parts.push('Coordinating:', table(['JOB', 'NAME', 'STATUS', 'ROUND', 'PARTICIPANTS', 'ACCURACY', 'ε', 'CREATED'], jobs.map(j => [
      j.id, j.name, j.status, `${j.round}/${j.rounds}`, `${j.roster.length}${j.pending.length > 0 ? ` (+${j.pending.length} pending)` : ''}`, fmt(j.lastAccuracy), fmt(j.epsilon, 2), j.createdAt.slice(0, 19).replace('T', ' ')
    ])))
  }
  if (participating.length > 0) {
    if (parts.length > 0) parts.push('')
    parts.push('Taking part:', table(['JOB', 'NAME', 'COORDINATOR', 'STATUS', 'DATASET', 'TRAINED', 'SENT'], participating.map(p => [
      p.jobId, p.name, shortPeerId(p.coordinator), p.status, p.dataset, `${p.roundsTrained} round${p.roundsTrained === 1 ? '' : 's'}`, formatBytes(p.bytesSent)
    ])))
    const pending = participating.filter(p => p.status === 'pending')
    if (pending.length > 0) parts.push('', `${pending.length} offer${pending.length === 1 ? '' : 's'} pending: approve with \`plexus fl join JOB\`, or \`plexus fl decline JOB\`.`)
  }
  return parts.join('\n')
}

async function getJob (target: NodeTarget, id: string): Promise<JobDetail> {
  return await viaNode(async () => await callNode<JobDetail>(target, 'GET', `/api/plexus/fl/jobs/${id}`))
}

/**
 * Follows a job over its event stream until it ends, calling `onEvent` for every event (a round
 * once each, status changes), and returns how it ended. The job's status is also read every few
 * seconds, so a stop that the stream does not announce still ends the wait.
 */
export async function followJob (target: NodeTarget, id: string, onEvent: (e: FlEvent) => void): Promise<{ status: string, reason: string | null, history: RoundRecord[] }> {
  const seen = new Set<number>()
  const history: RoundRecord[] = []
  let final: { status: string, reason: string | null } | null = null
  const emit = (e: FlEvent): void => {
    if (e.type === 'round') {
      if (seen.has(e.record.round)) return
      seen.add(e.record.round)
      history.push(e.record)
    }
    onEvent(e)
  }
  const abort = new AbortController()
  let polled: JobDetail | null = null
  const poll = setInterval(() => {
    getJob(target, id).then(d => {
      if (TERMINAL.has(d.job.status)) { polled = d; abort.abort() }
    }, () => {})
  }, POLL_MS)
  try {
    const res = await nodeFetch(target, 'GET', `/api/plexus/fl/jobs/${id}/events`, undefined, abort.signal)
    if (!res.ok) throw fromNode(await NodeApiError.from(res))
    if (res.body == null) throw new PlexusError('PLX_ERR_INTERNAL', [`the node sent no event stream for job ${id}`])
    for await (const data of sseData(res.body)) {
      let json: unknown
      try { json = JSON.parse(data) } catch { continue }
      const e = FlEventSchema.safeParse(json)
      if (!e.success) continue
      emit(e.data)
      if (e.data.type === 'status' && TERMINAL.has(e.data.status)) { final = { status: e.data.status, reason: e.data.reason }; break }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err
  } finally {
    clearInterval(poll)
    abort.abort()
  }
  if (final == null) {
    // Stopped without a status event, or the stream ended early: the job's own record tells.
    const d: JobDetail = polled ?? await getJob(target, id)
    if (!TERMINAL.has(d.job.status)) throw new PlexusError('PLX_ERR_INTERNAL', [`the node ended the event stream of job ${id} while it was still ${d.job.status}`])
    for (const record of d.history) emit({ type: 'round', jobId: id, record })
    final = { status: d.job.status, reason: d.job.reason }
    onEvent({ type: 'status', jobId: id, status: final.status, reason: final.reason })
  }
  return { ...final, history: history.sort((a, b) => a.round - b.round) }
}

/** Follows a job and prints its progress (JSON lines with --json); the exit code says how it ended. */
async function watch (target: NodeTarget, id: string, json: boolean | undefined, rounds: number): Promise<void> {
  let lastStatus: string | null = null
  const end = await followJob(target, id, e => {
    if (json === true) { process.stdout.write(JSON.stringify(e) + '\n'); return }
    if (e.type === 'round') process.stdout.write(roundLine(e.record, rounds) + '\n')
    else if (!TERMINAL.has(e.status) && e.status !== lastStatus) process.stdout.write(`${id} ${e.status}${e.status === 'inviting' ? ': waiting for participants' : ''}\n`)
    if (e.type === 'status') lastStatus = e.status
  })
  if (json !== true) process.stdout.write(finalLine(id, end.status, end.reason, end.history) + '\n')
  if (end.status !== 'completed') process.exitCode = 1
}

interface UrlOption { url?: string }
const URL_HELP = 'node to ask (default: the one running on the data directory; or PLEXUS_URL)'


export function registerFl (program: Command): void {
  const fl = program.command('fl').description('federated learning: train a model across nodes; only updates travel, never the data')

  fl
    .command('template')
    .description('the hash that names a job spec as a template, for a governance proposal approving it (governance.flTemplates)')
    .argument('<spec>', 'the job spec (JSON)')
    .action((file: string, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const hash = templateHash(parseJobSpec(readSpecFile(file)))
      output(g.json, { template: hash }, () => hash)
    })

  fl
    .command('create')
    .description('create a job that this node coordinates from a JSON job spec; prints the job id')
    .argument('<spec>', 'the job spec (JSON, at most 64 MiB)')
    .option('--wait', 'follow the job like `fl watch` until it ends (exit 1 if it fails or is stopped)')
    .option('--url <url>', URL_HELP)
    .action(async (file: string, opts: UrlOption & { wait?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const spec = readSpecFile(file)
      const target = nodeFor(opts, g)
      const job = await viaNode(async () => await callNode<JobSummary>(target, 'POST', '/api/plexus/fl/jobs', spec))
      if (opts.wait !== true) {
        output(g.json, job, () => job.id)
        return
      }
      // With --json: the new job, then each event, one JSON line each.
      process.stdout.write((g.json === true ? JSON.stringify(job) : job.id) + '\n')
      await watch(target, job.id, g.json, job.rounds)
    })

  fl
    .command('status')
    .description('jobs this node coordinates and takes part in (pending offers included); with JOB: its summary and rounds')
    .argument('[job]', 'job id')
    .option('--url <url>', URL_HELP)
    .action(async (idArg: string | undefined, opts: UrlOption, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const id = idArg == null ? null : jobId(idArg)
      const target = nodeFor(opts, g)
      const list = async (): Promise<JobList> => await viaNode(async () => await callNode<JobList>(target, 'GET', '/api/plexus/fl/jobs'))
      if (id == null) {
        const jobs = await list()
        output(g.json, jobs, () => describeJobs(jobs))
        return
      }
      try {
        const detail = await getJob(target, id)
        output(g.json, detail, () => describeJob(detail))
      } catch (err) {
        if (!isPlexusError(err, 'PLX_ERR_FL_JOB_NOT_FOUND')) throw err
        // Not coordinated here: maybe another node's job this node was offered.
        const participation = (await list()).participating.find(p => p.jobId === id)
        if (participation == null) throw err
        output(g.json, { participation }, () => describeParticipation(participation))
      }
    })

  fl
    .command('watch')
    .description('live progress of a job this node coordinates: a line per finished round, then how it ended (exit 0 when completed, 1 when failed or stopped)')
    .argument('<job>', 'job id')
    .option('--url <url>', URL_HELP)
    .action(async (idArg: string, opts: UrlOption, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const id = jobId(idArg)
      const target = nodeFor(opts, g)
      const { job } = await getJob(target, id)
      await watch(target, id, g.json, job.rounds)
    })

  // One job id, one POST: approve or decline an offer, stop a job.
  const actions: Array<{ name: string, description: string, path: (id: string) => string, done: (id: string, r: ParticipationInfo & JobSummary) => string }> = [
    {
      name: 'join',
      description: 'approve a pending offer: this node trains on its own data and sends only updates',
      path: id => `/api/plexus/fl/offers/${id}/join`,
      done: (id, p) => `Joined job ${id} of coordinator ${shortPeerId(p.coordinator)}; this node takes part from the next round.`
    },
    {
      name: 'decline',
      description: 'decline a pending offer',
      path: id => `/api/plexus/fl/offers/${id}/decline`,
      done: (id, p) => `Declined job ${id} of coordinator ${shortPeerId(p.coordinator)}.`
    },
    {
      name: 'stop',
      description: 'stop a job this node coordinates (it cannot be resumed)',
      path: id => `/api/plexus/fl/jobs/${id}/stop`,
      done: (id, job) => `Stopped job ${id} after ${job.round} of ${job.rounds} rounds.`
    }
  ]
  for (const action of actions) {
    fl
      .command(action.name)
      .description(action.description)
      .argument('<job>', 'job id (see `plexus fl status`)')
      .option('--url <url>', URL_HELP)
      .action(async (idArg: string, opts: UrlOption, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>()
        const id = jobId(idArg)
        const r = await viaNode(async () => await callNode<ParticipationInfo & JobSummary>(nodeFor(opts, g), 'POST', action.path(id)))
        output(g.json, r, () => action.done(id, r))
      })
  }

  fl
    .command('export')
    .description('write a job\'s model in tfjs format (model.json + weights.bin) to DIR; the node writes it, on its own machine')
    .argument('<job>', 'job id')
    .argument('<dir>', 'directory to write to')
    .option('--url <url>', URL_HELP)
    .action(async (idArg: string, dir: string, opts: UrlOption, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const id = jobId(idArg)
      const r = await viaNode(async () => await callNode<{ files: string[] }>(nodeFor(opts, g), 'POST', `/api/plexus/fl/jobs/${id}/export`, { dir: resolve(dir) }))
      output(g.json, r, () => `Wrote the model of job ${id}:\n${r.files.map(f => `  ${f}`).join('\n')}`)
    })
}

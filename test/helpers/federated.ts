/** Shared pieces of the federated integration tests: the breast cancer sites, HTTP helpers, waiting for jobs. */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT, type TestNode } from './node.js'

export const FEATURES = Array.from({ length: 30 }, (_, i) => `f${i}`)

/** The breast cancer rows (569 × 30 + label), from the copy that ships with the repository. */
export function breastCancer (): number[][] {
  const lines = readFileSync(join(REPO_ROOT, 'datasets', 'breast_cancer.csv'), 'utf8').trim().split('\n').slice(1)
  return lines.map(l => l.split(',').map(Number))
}

/** Stratified split of rows into `n` sites (class by class, round robin). */
export function stratified (rows: number[][], n: number): number[][][] {
  const sites: number[][][] = Array.from({ length: n }, () => [])
  for (const label of [0, 1]) rows.filter(r => r[30] === label).forEach((r, i) => sites[i % n]!.push(r))
  return sites
}

export function writeCsv (path: string, rows: number[][]): void {
  writeFileSync(path, [[...FEATURES, 'label'].join(','), ...rows.map(r => r.join(','))].join('\n') + '\n')
}

export async function post (url: string, body: unknown): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

export async function waitForJob (node: TestNode, id: string, timeoutMs = 240_000): Promise<{ job: { status: string, reason: string | null, round: number, lastAccuracy: number | null, roster: string[] }, history: Array<{ round: number, contributed: string[], dropped: string[], evaluation: { accuracy: number } | null, epsilon: number | null }> }> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const r = await (await fetch(`${node.url}/api/plexus/fl/jobs/${id}`)).json() as Awaited<ReturnType<typeof waitForJob>>
    if (['completed', 'failed', 'stopped'].includes(r.job.status)) return r
    if (Date.now() > deadline) throw new Error(`job ${id} still ${r.job.status} at round ${r.job.round}`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}


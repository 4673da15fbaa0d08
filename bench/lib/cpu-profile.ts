import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/** The parts of a V8 `.cpuprofile` (what `node --cpu-prof` writes) that are summarised here. */
interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

/** Time spent in one group of code (a package, or the project's own files). */
export interface ProfileShare {
  name: string
  /** Milliseconds of samples whose innermost frame is in this group. */
  selfMs: number
  share: number
}

/** A summary of one profile. */
export interface ProfileSummary {
  /** Wall time the profile covers, ms. */
  wallMs: number
  /** Sampled time not idle (program, GC and JavaScript), ms. */
  busyMs: number
  /** Self time by package or source folder, largest first. */
  byPackage: ProfileShare[]
  /** Self time by function (`name package`), largest first. */
  byFunction: ProfileShare[]
}

/** Where a frame's code comes from: `node_modules/<pkg>`, `src/<dir>`, `node:<module>` or a V8 pseudo-frame. */
export function codeGroup (url: string, functionName: string): string {
  if (url === '') return `(${functionName.replace(/[()]/g, '')})`
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0]?.startsWith('@') === true ? `${rest[0]}/${rest[1] ?? ''}` : rest[0] ?? url
  }
  if (url.startsWith('node:')) return url
  const dist = url.indexOf('/dist/')
  if (dist >= 0) {
    const parts = url.slice(dist + '/dist/'.length).split('/')
    return parts.length > 2 ? `${parts[0] ?? ''}/${parts[1] ?? ''}` : parts[0] ?? url
  }
  return url.split('/').slice(-1)[0] ?? url
}

/**
 * Summarises a `.cpuprofile`: self time by package and by function.
 *
 * @param path - the profile file
 * @param top - how many functions to keep
 */
export async function summariseProfile (path: string, top = 25): Promise<ProfileSummary> {
  const p = JSON.parse(await readFile(path, 'utf8')) as CpuProfile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  const samples = p.samples ?? []
  const deltas = p.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) {
    // A sample's time is the gap to the next one (the last gets the mean).
    const dt = deltas[i + 1] ?? (deltas.length > 0 ? deltas.reduce((a, b) => a + b, 0) / deltas.length : 0)
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + dt)
  }
  const pkg = new Map<string, number>()
  const fn = new Map<string, number>()
  let busy = 0
  for (const [id, us] of selfUs) {
    const n = byId.get(id)
    if (n == null) continue
    const { functionName, url } = n.callFrame
    if (functionName === '(idle)') continue
    busy += us
    const group = codeGroup(url, functionName)
    pkg.set(group, (pkg.get(group) ?? 0) + us)
    const key = `${functionName === '' ? '(anonymous)' : functionName} ${group}`
    fn.set(key, (fn.get(key) ?? 0) + us)
  }
  const shares = (m: Map<string, number>, limit: number): ProfileShare[] => [...m.entries()]
    .sort((a, b) => b[1] - a[1]).slice(0, limit)
    .map(([name, us]) => ({ name, selfMs: us / 1000, share: busy > 0 ? us / busy : 0 }))
  return {
    wallMs: (p.endTime - p.startTime) / 1000,
    busyMs: busy / 1000,
    byPackage: shares(pkg, 15),
    byFunction: shares(fn, top)
  }
}

/**
 * The `.cpuprofile` files in a directory (what `--cpu-prof-dir` received), newest last.
 *
 * @param dir - the directory
 */
export async function profilesIn (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(dir, f))
  } catch {
    return []
  }
}

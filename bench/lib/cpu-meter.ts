import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/** Busy and total CPU time of the whole machine, in clock ticks (from /proc/stat). */
interface MachineTicks {
  busy: number
  total: number
}

function readMachineTicks (): MachineTicks | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
    const fields = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // included in user/nice, so it is not added again.
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields
    const busy = user + nice + system + irq + softirq + steal
    return { busy, total: busy + idle + iowait }
  } catch {
    return null
  }
}

/** CPU use over an interval, in cores (1.0 = one core fully busy). */
export interface CpuUse {
  /** Wall-clock seconds of the interval. */
  wallS: number
  /** Cores used by this process (user + system). */
  self: number
  /** Cores used by the whole machine, or null where /proc/stat is unreadable. */
  machine: number | null
  /** Cores used by everything else (machine − self − `children`), or null. */
  foreign: number | null
}

/**
 * Measures CPU use between `start()` and `stop()`: this process, the machine, and the difference,
 * which shows when another workload shared the cores during a measurement.
 *
 * @param childCpuS - optional function returning CPU seconds used by a child process being
 *   measured (e.g. llama-bench), subtracted from the foreign share
 */
export function cpuMeter (childCpuS?: () => number): { stop: () => CpuUse } {
  const t0 = process.hrtime.bigint()
  const u0 = process.cpuUsage()
  const m0 = readMachineTicks()
  const c0 = childCpuS?.() ?? 0
  return {
    stop () {
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9
      const u = process.cpuUsage(u0)
      const self = (u.user + u.system) / 1e6 / wallS
      const m1 = readMachineTicks()
      const children = ((childCpuS?.() ?? 0) - c0) / wallS
      let machine: number | null = null
      let foreign: number | null = null
      if (m0 != null && m1 != null && m1.total > m0.total) {
        machine = (m1.busy - m0.busy) / (m1.total - m0.total) * availableParallelism()
        foreign = Math.max(0, machine - self - children)
      }
      return { wallS, self, machine, foreign }
    }
  }
}

/** Cores busy on the machine over `ms` milliseconds (null where /proc/stat is unreadable). */
export async function machineLoad (ms = 500): Promise<number | null> {
  const a = readMachineTicks()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const b = readMachineTicks()
  if (a == null || b == null || b.total <= a.total) return null
  return (b.busy - a.busy) / (b.total - a.total) * availableParallelism()
}

import { machineLoad } from './cpu-meter.js'

/** Foreign load (cores) above which a measurement is flagged as disturbed. */
export const NOISY_CORES = 0.25

/**
 * Waits until the machine is nearly idle (other processes use less than `threshold` cores over
 * half a second), for at most `maxWaitMs`. Benchmarks on a shared 2-core machine are otherwise
 * dominated by whatever else runs: spinning ggml threads lose whole scheduler ticks to it.
 *
 * @param maxWaitMs - give up after this long and measure anyway (the result is then flagged)
 * @param threshold - busy cores regarded as idle
 * @returns the last load seen, in cores (null where /proc/stat is unreadable)
 */
export async function waitForQuiet (maxWaitMs = 15_000, threshold = 0.15): Promise<number | null> {
  const deadline = Date.now() + maxWaitMs
  let load: number | null = null
  do {
    load = await machineLoad(500)
    if (load == null || load < threshold) return load
  } while (Date.now() < deadline)
  return load
}

/**
 * A table mark for a measurement disturbed by other processes: `*` when they used more than
 * {@link NOISY_CORES} cores meanwhile.
 *
 * @param foreign - cores used by other processes during the measurement
 */
export function noiseMark (foreign: number | null): string {
  return foreign != null && foreign > NOISY_CORES ? '*' : ''
}

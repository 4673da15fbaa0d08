import { availableParallelism } from 'node:os'

/**
 * Thread count for llama.cpp evaluations when the owner has not set one.
 *
 * Measured on a 2-core machine (see bench/README.md): with node-llama-cpp, extra threads cost far
 * more in synchronisation than they gain unless each token carries enough compute, and the Node
 * main thread and libuv threads compete for the same cores. The rule keeps one core free for the
 * Node process on small machines and never exceeds the physical parallelism.
 */
export function defaultThreads (cores: number = availableParallelism()): number {
  if (cores <= 2) return 1
  return Math.max(1, Math.min(cores - 1, 8))
}

/** The thread count actually used: the configured one, or the default when 0. */
export function resolveThreads (configured: number, cores: number = availableParallelism()): number {
  return configured > 0 ? configured : defaultThreads(cores)
}

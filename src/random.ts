/**
 * A small seeded PRNG (mulberry32): reproducible pseudo-random numbers in [0, 1) for client
 * selection, data splits, generated benchmark files and tests. Not for anything secret.
 *
 * @packageDocumentation
 */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

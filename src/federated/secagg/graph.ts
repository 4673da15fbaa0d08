/**
 * The masking graph: which pairs of clients share a pairwise mask and hold each other's secret
 * shares. Either complete (Bonawitz et al. 2017) or a random sparse graph in which every client has
 * at least k neighbours (Bell et al. 2020), built as the union of random Hamiltonian cycles from a
 * seed every party derives from the roster, so that all agree on it without another message.
 *
 * @packageDocumentation
 */
import { createCipheriv, createHash } from 'node:crypto'

export interface MaskingGraph {
  /** Number of clients (indices 0..size−1, in roster order). */
  readonly size: number
  readonly complete: boolean
  /** Sorted indices of i's neighbours (i itself excluded). */
  neighbours: (i: number) => readonly number[]
  hasEdge: (i: number, j: number) => boolean
}

function completeGraph (size: number): MaskingGraph {
  return {
    size,
    complete: true,
    neighbours: i => Array.from({ length: size - 1 }, (_, k) => k < i ? k : k + 1),
    hasEdge: (i, j) => i !== j
  }
}

/** Uniform integers below `bound` from an AES-256-CTR stream under `seed` (32-bit, bias ≤ n/2³²). */
function seededIntegers (seed: Uint8Array): (bound: number) => number {
  const cipher = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16))
  let words = new Uint32Array(0)
  let next = 0
  return (bound) => {
    if (next >= words.length) {
      const block = cipher.update(Buffer.alloc(4096))
      words = new Uint32Array(block.buffer.slice(block.byteOffset, block.byteOffset + block.length))
      next = 0
    }
    return words[next++]! % bound
  }
}

/**
 * The graph for `size` clients: complete, or random with minimum degree `degree` (clamped to
 * size − 1, where it becomes complete). `seed` (32 bytes) fixes the random graph.
 */
export function maskingGraph (size: number, degree: 'complete' | number, seed: Uint8Array): MaskingGraph {
  if (degree === 'complete' || degree >= size - 1) return completeGraph(size)
  const adjacency = Array.from({ length: size }, () => new Set<number>())
  const random = seededIntegers(seed)
  // Each random Hamiltonian cycle adds up to two neighbours per client; keep adding cycles until
  // every client has `degree` (bounded: 2·degree cycles are far more than ever needed).
  for (let cycle = 0; cycle < 2 * degree; cycle++) {
    let minDegree = Infinity
    for (const s of adjacency) minDegree = Math.min(minDegree, s.size)
    if (minDegree >= degree) break
    const order = Array.from({ length: size }, (_, i) => i)
    for (let i = size - 1; i > 0; i--) {
      const j = random(i + 1)
      ;[order[i], order[j]] = [order[j]!, order[i]!]
    }
    for (let i = 0; i < size; i++) {
      const a = order[i]!
      const b = order[(i + 1) % size]!
      adjacency[a]!.add(b)
      adjacency[b]!.add(a)
    }
  }
  const lists = adjacency.map(s => [...s].sort((x, y) => x - y))
  return {
    size,
    complete: false,
    neighbours: i => lists[i] ?? [],
    hasEdge: (i, j) => adjacency[i]?.has(j) ?? false
  }
}

/** The seed of the sparse graph: a hash of the session and the whole roster, in order. */
export function graphSeed (session: string, roster: ReadonlyArray<{ client: string, cPublicKey: string, sPublicKey: string }>): Uint8Array {
  const h = createHash('sha256').update(JSON.stringify(['plexus-secagg/v1', 'graph', session]))
  for (const r of roster) h.update(JSON.stringify([r.client, r.cPublicKey, r.sPublicKey]))
  return new Uint8Array(h.digest())
}

/** Whether the subgraph induced by `members` is connected (true for zero or one member). */
export function isConnected (graph: MaskingGraph, members: ReadonlySet<number>): boolean {
  if (members.size <= 1) return true
  if (graph.complete) return true
  const first = members.values().next().value as number
  const seen = new Set<number>([first])
  const stack = [first]
  while (stack.length > 0) {
    const i = stack.pop()!
    for (const j of graph.neighbours(i)) {
      if (members.has(j) && !seen.has(j)) { seen.add(j); stack.push(j) }
    }
  }
  return seen.size === members.size
}

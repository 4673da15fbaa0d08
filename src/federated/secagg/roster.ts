/**
 * What both sides derive from the roster: client indices (Shamir x coordinates and the order that
 * decides each pairwise mask's sign), the masking graph and the share thresholds.
 *
 * @packageDocumentation
 */
import type { ResolvedConfig } from './config.js'
import { shareThreshold } from './config.js'
import { graphSeed, isConnected, maskingGraph, type MaskingGraph } from './graph.js'
import type { RosterEntry } from './messages.js'

export class RosterView {
  readonly entries: readonly RosterEntry[]
  readonly ids: readonly string[]
  readonly graph: MaskingGraph
  readonly #index: Map<string, number>
  readonly #fraction: number
  readonly #neighbourIds = new Map<number, readonly string[]>()
  readonly #holderIds = new Map<string, readonly string[]>()
  readonly #positionMaps = new Map<string, Map<string, number>>()

  /** `entries` must be sorted by client id without repeats (checked by the caller). */
  constructor (config: ResolvedConfig, entries: readonly RosterEntry[]) {
    this.entries = entries
    this.ids = entries.map(e => e.client)
    this.#index = new Map(this.ids.map((id, i) => [id, i]))
    this.#fraction = config.threshold
    this.graph = maskingGraph(entries.length, config.neighbours, graphSeed(config.session, entries))
  }

  get size (): number {
    return this.ids.length
  }

  /** Index of a client in the roster (its Shamir x coordinate is index + 1); −1 when absent. */
  indexOf (id: string): number {
    return this.#index.get(id) ?? -1
  }

  has (id: string): boolean {
    return this.#index.has(id)
  }

  /** Ids of a client's neighbours, in roster order. */
  neighbours (id: string): readonly string[] {
    const i = this.indexOf(id)
    let list = this.#neighbourIds.get(i)
    if (list == null) {
      list = i < 0 ? [] : this.graph.neighbours(i).map(j => this.ids[j]!)
      this.#neighbourIds.set(i, list)
    }
    return list
  }

  isNeighbour (a: string, b: string): boolean {
    const i = this.indexOf(a)
    const j = this.indexOf(b)
    return i >= 0 && j >= 0 && this.graph.hasEdge(i, j)
  }

  /** The holders of a client's shares: its neighbours and itself, in roster order. */
  holders (id: string): readonly string[] {
    let list = this.#holderIds.get(id)
    if (list == null) {
      const i = this.indexOf(id)
      list = i < 0 ? [] : [...this.graph.neighbours(i), i].sort((a, b) => a - b).map(j => this.ids[j]!)
      this.#holderIds.set(id, list)
    }
    return list
  }

  /** Position of `holder` in {@link RosterView.holders} of `owner`; −1 when it holds none of its shares. */
  holderPosition (owner: string, holder: string): number {
    const i = this.indexOf(owner)
    const j = this.indexOf(holder)
    if (i < 0 || j < 0 || (i !== j && !this.graph.hasEdge(i, j))) return -1
    if (this.graph.complete) return j
    return this.#positions(owner, () => this.holders(owner)).get(holder)!
  }

  /** Position of `to` in {@link RosterView.neighbours} of `from`; −1 when they are not neighbours. */
  neighbourPosition (from: string, to: string): number {
    const i = this.indexOf(from)
    const j = this.indexOf(to)
    if (i < 0 || j < 0 || !this.graph.hasEdge(i, j)) return -1
    if (this.graph.complete) return j < i ? j : j - 1
    return this.#positions(`\u0000${from}`, () => this.neighbours(from)).get(to)!
  }

  #positions (key: string, list: () => readonly string[]): Map<string, number> {
    let map = this.#positionMaps.get(key)
    if (map == null) {
      map = new Map(list().map((id, k) => [id, k]))
      this.#positionMaps.set(key, map)
    }
    return map
  }

  /** Shares of a client's secrets needed to reconstruct them: of its neighbours plus itself. */
  shareThreshold (id: string): number {
    return shareThreshold(this.holders(id).length, this.#fraction)
  }

  /** Clients that must survive to the end for the round to complete. */
  get survivorThreshold (): number {
    return shareThreshold(this.size, this.#fraction)
  }

  /** Whether the masking graph restricted to `members` is connected. */
  connected (members: Iterable<string>): boolean {
    return isConnected(this.graph, new Set([...members].map(id => this.indexOf(id))))
  }

  /**
   * Sign with which `a`'s masked input carries the mask it shares with `b`:
   * y_a = x_a + PRG(b_a) + Σ_{b before a} PRG(s_ab) − Σ_{b after a} PRG(s_ab).
   */
  maskSign (a: string, b: string): 1 | -1 {
    return this.indexOf(b) < this.indexOf(a) ? 1 : -1
  }
}

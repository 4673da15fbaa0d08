import { PlexusError } from '../errors.js'

interface Waiter<T> {
  resolve: (slot: T) => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
}

/**
 * A fixed set of slots (llama.cpp sequences): waiters are served in FIFO order, free slots most
 * recently released first. Waiters can be cancelled
 * through their signal; a full queue is refused at once rather than growing without bound.
 */
export class SlotPool<T> {
  readonly #free: T[]
  readonly #waiters: Array<Waiter<T>> = []
  readonly #maxQueue: number
  #closed = false
  readonly size: number

  constructor (slots: T[], maxQueue: number) {
    this.#free = [...slots]
    this.size = slots.length
    this.#maxQueue = maxQueue
  }

  /** Slots in use. */
  get active (): number { return this.size - this.#free.length }
  /** Requests waiting for a slot. */
  get waiting (): number { return this.#waiters.length }
  get idle (): boolean { return this.active === 0 && this.waiting === 0 }

  async acquire (options: { signal?: AbortSignal } = {}): Promise<T> {
    if (this.#closed) throw new PlexusError('PLX_ERR_SHUTTING_DOWN')
    if (options.signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED')
    const slot = this.#free.shift()
    if (slot !== undefined) return slot
    if (this.#waiters.length >= this.#maxQueue) throw new PlexusError('PLX_ERR_QUEUE_FULL', [this.#waiters.length])
    return await new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, signal: options.signal }
      if (options.signal != null) {
        waiter.onAbort = () => {
          const i = this.#waiters.indexOf(waiter)
          if (i >= 0) this.#waiters.splice(i, 1)
          reject(new PlexusError('PLX_ERR_ABORTED'))
        }
        options.signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.#waiters.push(waiter)
    })
  }

  release (slot: T): void {
    const next = this.#waiters.shift()
    if (next != null) {
      if (next.onAbort != null) next.signal?.removeEventListener('abort', next.onAbort)
      next.resolve(slot)
    } else {
      // Most recently used first: its KV cache holds the latest conversation (prefix reuse), and
      // its buffers are warm; the other slots serve only when requests overlap.
      this.#free.unshift(slot)
    }
  }

  /** Refuses new work and fails every waiter; slots in use are returned by their holders. */
  close (): void {
    this.#closed = true
    for (const w of this.#waiters.splice(0)) {
      if (w.onAbort != null) w.signal?.removeEventListener('abort', w.onAbort)
      w.reject(new PlexusError('PLX_ERR_SHUTTING_DOWN'))
    }
  }
}

/**
 * Turns generated text pieces into what the client may see: text that could still be the start
 * of a stop sequence is held back until it is known not to be one, and generation ends at the
 * first complete stop sequence (which is not returned, as with OpenAI and Ollama).
 */
export class StopSequenceFilter {
  readonly #stops: string[]
  #held = ''
  #stopped = false

  constructor (stops: readonly string[]) {
    this.#stops = stops.filter(s => s.length > 0)
  }

  get stopped (): boolean { return this.#stopped }

  /** Adds generated text; returns the part that is safe to emit now. */
  push (text: string): string {
    if (this.#stopped) return ''
    if (this.#stops.length === 0) return text
    const buf = this.#held + text
    let cut = -1
    for (const s of this.#stops) {
      const i = buf.indexOf(s)
      if (i >= 0 && (cut < 0 || i < cut)) cut = i
    }
    if (cut >= 0) {
      this.#stopped = true
      this.#held = ''
      return buf.slice(0, cut)
    }
    // Hold back the longest suffix of buf that is a proper prefix of some stop sequence.
    let hold = 0
    for (const s of this.#stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > hold; k--) {
        if (buf.endsWith(s.slice(0, k))) { hold = k; break }
      }
    }
    this.#held = buf.slice(buf.length - hold)
    return buf.slice(0, buf.length - hold)
  }

  /** Text held back when generation ends without a stop sequence. */
  flush (): string {
    const rest = this.#stopped ? '' : this.#held
    this.#held = ''
    return rest
  }
}

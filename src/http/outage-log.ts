/** Where an OutageLog writes: a pino logger or anything with its `warn`. */
export interface WarnLog {
  warn: (obj: object, msg: string) => void
}

/**
 * The log of requests answered storage_unavailable: during an outage every request fails, and a
 * line for each would cost the service a synchronous write per request exactly when it is under
 * strain. The first failure after a quiet `windowMs` gets its line; the others are counted and
 * summed up in one line at the end of each window while they go on. The connection's own state
 * changes (lost, back) are logged apart, once each.
 */
export class OutageLog {
  readonly #log: WarnLog
  readonly #windowMs: number
  #windowEnds = 0
  #counted = 0
  #lastReason = ''
  #timer: NodeJS.Timeout | undefined

  constructor (log: WarnLog, windowMs = 10_000) {
    this.#log = log
    this.#windowMs = windowMs
  }

  /** A request answered storage_unavailable, for `reason` (the error's message). */
  failed (reason: string): void {
    const now = Date.now()
    if (now >= this.#windowEnds) {
      this.#summarize()
      this.#log.warn({ reason }, `request failed: storage_unavailable: ${reason}`)
      this.#windowEnds = now + this.#windowMs
      return
    }
    this.#counted++
    this.#lastReason = reason
    this.#timer ??= setTimeout(() => { this.#timer = undefined; this.#summarize() }, this.#windowEnds - now).unref()
  }

  #summarize (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#counted === 0) return
    this.#log.warn({ requests: this.#counted, reason: this.#lastReason },
      `${this.#counted} more requests answered storage_unavailable in ${this.#windowMs / 1000} s, the last: ${this.#lastReason}`)
    this.#counted = 0
    // The next failure starts a new window with a line of its own.
    this.#windowEnds = 0
  }

  /** Writes what is counted; for shutdown. */
  flush (): void {
    this.#summarize()
  }
}

// The calls of one procedure that arrive together go to Tarantool in one call of its batch form
// (sessions.get_many for /get, sessions.new_many for /new): the call's own work in Tarantool
// (reading it, a fiber, the procedure's call, the answer; for /new, the transaction's commit and
// its WAL write) and in the client is then shared, where it costs about as much as the work itself.
// Each is answered as a call of its own would be, and one that Tarantool could not run in the
// batch (a write refused: read-only, out of memory) is sent again alone, with all that a call of
// its own gets (another leader, the error it means).
import { callProcedure } from './procedures.js'
import type { Tarantool } from './tarantool.js'
import { ER, StorageError } from './tarantool-errors.js'

interface Waiting {
  args: unknown[]
  resolve: (values: unknown[]) => void
  reject: (err: unknown) => void
}

/** The most calls in one: its request stays small whatever extra data they carry. */
const MAX_BATCH = 100

export class CallBatch {
  readonly #client: Tarantool
  readonly #single: string
  readonly #many: string
  #waiting: Waiting[] = []
  #scheduled = false
  // False once Tarantool had no batch form: a call each from then on.
  #together = true

  /** `single` answers one call's arguments; `many` an array of them, an answer each. */
  constructor (client: Tarantool, single: string, many: string) {
    this.#client = client
    this.#single = single
    this.#many = many
  }

  /**
   * What the single procedure answers for `args`. Sent once the I/O callbacks of this turn of the
   * event loop have run, with the other calls they asked for.
   */
  call (args: unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ args, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => { this.#send() })
      }
    })
  }

  #send (): void {
    this.#scheduled = false
    const waiting = this.#waiting
    this.#waiting = []
    if (!this.#together) {
      for (const w of waiting) this.#alone(w)
      return
    }
    for (let from = 0; from < waiting.length; from += MAX_BATCH) this.#sendTogether(waiting.slice(from, from + MAX_BATCH))
  }

  #sendTogether (batch: Waiting[]): void {
    if (batch.length === 1) {
      this.#alone(batch[0])
      return
    }
    callProcedure(this.#client, this.#many, [batch.map((w) => w.args)]).then((values) => {
      const answers = values[0] as unknown[][] | undefined
      batch.forEach((w, i) => {
        const answer = answers?.[i]
        // None: a bug on one side, failed as any unexpected answer is (and never left waiting).
        if (!Array.isArray(answer)) w.reject(new Error(`Tarantool answered no call ${i + 1} of ${batch.length}`))
        // A fourth value: it raised there (its message); sent again alone.
        else if (answer.length > 3 && answer[3] != null) this.#alone(w)
        else w.resolve(answer)
      })
    }, (err: unknown) => {
      // Not there (Tarantool's Lua older than this service's: the service user may not execute it).
      if (err instanceof StorageError && (err.tarantoolCode === ER.NO_SUCH_PROC || err.tarantoolCode === ER.ACCESS_DENIED)) {
        this.#together = false
        for (const w of batch) this.#alone(w)
        return
      }
      for (const w of batch) w.reject(err)
    })
  }

  #alone (w: Waiting): void {
    callProcedure(this.#client, this.#single, w.args).then(w.resolve, w.reject)
  }
}

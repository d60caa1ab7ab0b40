// The /get lookups that arrive together go to Tarantool in one call (sessions.get_many): the
// call's own work in Tarantool (reading it, a fiber, the procedure's call, the answer) and in the
// client is then shared, where it costs about as much as the lookup itself. Each is answered as a
// call of its own would be (sessions.get), and one that Tarantool could not run in the batch (a
// write refused: read-only, out of memory) is sent again alone, with all that a call of its own
// gets (another leader, the error it means).
import { callProcedure, PROC } from './procedures.js'
import type { Tarantool } from './tarantool.js'
import { ER, StorageError } from './tarantool-errors.js'

interface Waiting {
  args: unknown[]
  resolve: (values: unknown[]) => void
  reject: (err: unknown) => void
}

/** The most lookups in one call: its request stays small whatever extra data they carry. */
const MAX_BATCH = 100

export class GetBatch {
  readonly #client: Tarantool
  #waiting: Waiting[] = []
  #scheduled = false
  // False once Tarantool had no sessions.get_many: a call each from then on.
  #many = true

  constructor (client: Tarantool) {
    this.#client = client
  }

  /**
   * What sessions.get answers for `args`. Sent once the I/O callbacks of this turn of the event
   * loop have run, with the other lookups they asked for.
   */
  get (args: unknown[]): Promise<unknown[]> {
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
    if (!this.#many) {
      for (const w of waiting) this.#alone(w)
      return
    }
    for (let from = 0; from < waiting.length; from += MAX_BATCH) this.#together(waiting.slice(from, from + MAX_BATCH))
  }

  #together (batch: Waiting[]): void {
    if (batch.length === 1) {
      this.#alone(batch[0])
      return
    }
    callProcedure(this.#client, PROC.getMany, [batch.map((w) => w.args)]).then((values) => {
      const answers = values[0] as unknown[][] | undefined
      batch.forEach((w, i) => {
        const answer = answers?.[i]
        // None: a bug on one side, failed as any unexpected answer is (and never left waiting).
        if (!Array.isArray(answer)) w.reject(new Error(`Tarantool answered no lookup ${i + 1} of ${batch.length}`))
        // A fourth value: it raised there (its message); sent again alone.
        else if (answer.length > 3 && answer[3] != null) this.#alone(w)
        else w.resolve(answer)
      })
    }, (err: unknown) => {
      // Not there (Tarantool's Lua older than this service's: the service user may not execute it).
      if (err instanceof StorageError && (err.tarantoolCode === ER.NO_SUCH_PROC || err.tarantoolCode === ER.ACCESS_DENIED)) {
        this.#many = false
        for (const w of batch) this.#alone(w)
        return
      }
      for (const w of batch) w.reject(err)
    })
  }

  #alone (w: Waiting): void {
    callProcedure(this.#client, PROC.get, w.args).then(w.resolve, w.reject)
  }
}

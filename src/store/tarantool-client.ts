import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { memberAddress } from '../config.js'
import { Connection, type ConnectionOptions } from './connection.js'
import { RequestWriter, ResponseReader, Uuid, type Response } from './iproto.js'
import type { CallOutcome, ConnectionState, MemberState, Tarantool } from './tarantool.js'
import { errorKind, StorageError, StorageUnavailableError } from './tarantool-errors.js'

export interface TarantoolClientOptions extends ConnectionOptions {
  /** The most calls waiting on Tarantool at once; more fail at once, unsent (default: no limit). */
  maxInFlight?: number
}

interface Pending {
  name: string
  sync: number
  /** When it was sent, and when it times out (ms, performance.now()). */
  sent: number
  deadline: number
  /** Chunks received on the connection when the call was sent. */
  received: number
  socket: Socket
  resolve: (values: unknown[]) => void
  reject: (err: Error) => void
}

/**
 * Our interface to Tarantool, over tarantool-driver, which keeps the socket, the greeting and
 * authentication. Its Connection adds reconnects (see connection.ts); this class adds the calls,
 * with what a service needs and the driver lacks:
 * - a timeout on every call, and a connection that answers nothing for a whole timeout is dropped
 *   and made anew (the driver would wait on it forever);
 * - calls in flight fail as soon as the connection drops (the driver leaves them pending);
 * - no offline queue: while disconnected, calls fail at once;
 * - IPROTO_CALL (the driver only speaks the old call_16, which reshapes results);
 * - requests are written to the socket directly, and responses read from it once logged in: the
 *   driver's send path misreads its own state while a response is half-read, and then queues the
 *   request until the next reconnect; its reader decodes with msgpack-lite, at twice the cost;
 * - the calls made within one turn of the event loop go out in one socket write, and one timer
 *   watches the deadlines of all calls in flight (not one timer per call).
 *
 * To the service, one instance is a replica set of one: its only member, the leader (the one the
 * calls go to) while connected; it does not ask for its role.
 *
 * Events: 'connect' (each time a connection is ready), 'disconnect' (Error), 'auth_failed' (Error),
 * 'loading' (Error: the first login refused as not ready yet since the last connection; the client
 * keeps trying), 'leader' (its address on connecting, undefined on losing the connection), 'call'
 * (procedure name, seconds, CallOutcome) as each call ends.
 */
export class TarantoolClient extends EventEmitter implements Tarantool {
  readonly #connection: Connection
  readonly #address: string
  readonly #timeoutMs: number
  readonly #maxInFlight: number
  // The logged-in socket the calls are written to; undefined while not connected.
  #socket: Socket | undefined
  // Calls in flight by sync, oldest (so soonest deadline) first.
  readonly #pending = new Map<number, Pending>()
  #sync = 0
  readonly #writer = new RequestWriter()
  #flushScheduled = false
  #deadlineTimer: NodeJS.Timeout | undefined
  // Chunks received on the current connection: a call that times out with this unchanged since
  // it was sent means the connection answers nothing at all.
  #received = 0

  constructor (opts: TarantoolClientOptions) {
    super()
    this.#timeoutMs = opts.timeoutMs
    this.#maxInFlight = opts.maxInFlight ?? Infinity
    this.#address = memberAddress(opts)
    this.#connection = new Connection(opts, {
      connected: (socket) => this.#onConnect(socket),
      lost: (err, wasConnected) => this.#onLost(err, wasConnected),
      loading: (err) => this.emit('loading', err),
      refused: (err) => {
        this.#failAll(err)
        this.emit('auth_failed', err)
      }
    })
  }

  /** The connection's state right now. */
  get state (): ConnectionState {
    return this.#connection.state
  }

  /** Whether a login was refused with ER_LOADING within the grace, since the last connection. */
  get loading (): boolean {
    return this.#connection.loading
  }

  /** The last connection error, if any: for logs and readiness. */
  get lastError (): Error | undefined {
    return this.#connection.lastError
  }

  /** Its address while connected. */
  get leader (): string | undefined {
    return this.state === 'connected' ? this.#address : undefined
  }

  /** Itself, as a member of a set of one. */
  members (): MemberState[] {
    const connection = this.state
    return [{ address: this.#address, connection, leader: connection === 'connected' }]
  }

  /** Calls a stored procedure and resolves with all the values it returned. */
  call (name: string, args: unknown[]): Promise<unknown[]> {
    const socket = this.#socket
    if (socket === undefined || !socket.writable) {
      this.emit('call', name, 0, 'unavailable')
      return Promise.reject(this.#unavailable())
    }
    if (this.#pending.size >= this.#maxInFlight) {
      // Queued calls would only wait longer: Tarantool is behind, and each of them adds to it.
      this.emit('call', name, 0, 'shed')
      return Promise.reject(new StorageUnavailableError(`${this.#pending.size} calls wait on Tarantool already, the most allowed`, 'no'))
    }
    return new Promise((resolve, reject) => {
      const sync = this.#sync = (this.#sync + 1) % 0x100000000
      this.#writer.call(sync, name, args)
      const sent = performance.now()
      this.#pending.set(sync, { name, sync, sent, deadline: sent + this.#timeoutMs, received: this.#received, socket, resolve, reject })
      this.#deadlineTimer ??= setTimeout(() => this.#expire(), this.#timeoutMs)
      if (!this.#flushScheduled) {
        this.#flushScheduled = true
        // After this turn's I/O callbacks and the next turn's: the calls of both share one write.
        // Tarantool's CPU per /get under load went from 29-31 to 24-25 µs against one turn (its
        // network thread then reads and wakes its tx thread half as often); a third turn gave
        // nothing more. At rest, sequential /gets took as long either way (p50 0.35-0.41 ms).
        setImmediate(() => setImmediate(() => this.#flush()))
      }
    })
  }

  // Settles a call with its response.
  #answer (response: Response): void {
    const pending = this.#pending.get(response.sync)
    // Late: timed out already, its connection dropped since.
    if (pending === undefined) return
    if (response.error !== undefined) {
      this.#fail(pending, this.#classify(response.error, response.errorCode))
      return
    }
    this.#pending.delete(response.sync)
    pending.resolve(response.data!)
    this.#observe(pending.name, pending.sent, 'ok')
  }

  // Fails a call still in flight.
  #fail (pending: Pending, err: Error): void {
    this.#pending.delete(pending.sync)
    pending.reject(err)
    this.#observe(pending.name, pending.sent, err instanceof StorageUnavailableError ? 'unavailable' : 'error')
  }

  // The 'call' event, after the call is settled: a listener that throws cannot leave it hanging.
  #observe (name: string, sent: number, outcome: CallOutcome): void {
    try {
      this.emit('call', name, (performance.now() - sent) / 1000, outcome)
    } catch {}
  }

  #flush (): void {
    this.#flushScheduled = false
    if (this.#writer.length === 0) return
    const requests = this.#writer.take()
    const socket = this.#socket
    // Calls are taken only while connected, and a lost connection drops what it had not sent
    // (#onLost): what is here is for this connection. One that is failing now fails its calls.
    if (socket !== undefined && !socket.destroyed) socket.write(requests)
  }

  // Fails the calls past their deadline, then waits for the next deadline.
  #expire (): void {
    this.#deadlineTimer = undefined
    const now = performance.now()
    for (const pending of this.#pending.values()) {
      if (pending.deadline > now) {
        this.#deadlineTimer = setTimeout(() => this.#expire(), pending.deadline - now + 1)
        return
      }
      this.#fail(pending, new StorageUnavailableError(`Tarantool did not answer ${pending.name} within ${this.#timeoutMs} ms`))
      if (this.#received === pending.received && !pending.socket.destroyed) {
        this.#connection.drop(pending.socket, new StorageUnavailableError('Tarantool stopped answering'))
      }
    }
  }

  /** Resolves once connected; rejects on bad credentials, on close, or after `timeoutMs`. */
  waitConnected (timeoutMs: number): Promise<void> {
    const { state, lastError } = this.#connection
    if (state === 'connected') return Promise.resolve()
    if (state === 'auth_failed' && lastError) return Promise.reject(lastError)
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        this.off('connect', onConnect)
        this.off('auth_failed', done)
        this.off('closed', onClosed)
        if (err) reject(err)
        else resolve()
      }
      const onConnect = (): void => done()
      const onClosed = (): void => done(new StorageUnavailableError('The Tarantool client was closed'))
      const timer = setTimeout(() => done(this.#unavailable()), timeoutMs)
      this.on('connect', onConnect)
      this.on('auth_failed', done)
      this.on('closed', onClosed)
    })
  }

  /** Closes the connection for good; calls in flight fail. */
  close (): void {
    if (this.#connection.state === 'closed') return
    const wasConnected = this.state === 'connected'
    this.#connection.close()
    this.#socket = undefined
    clearTimeout(this.#deadlineTimer)
    this.#failAll(new StorageUnavailableError('The Tarantool client was closed'))
    if (wasConnected) this.emit('leader', undefined)
    this.emit('closed')
  }

  /** Marks an argument to send as a Tarantool uuid: its text or its 16 bytes. */
  uuid (value: string | Uint8Array): unknown {
    return new Uuid(value)
  }

  /** Whether an error Tarantool answered is worth retrying later (503) or a bug (500), by its code. */
  #classify (message: string, code: number | undefined): Error {
    const { kind, why } = errorKind(code)
    if (kind === 'failed') return new StorageError(message, code)
    return new StorageUnavailableError(`Tarantool is ${why}: ${message}`, kind === 'refused' ? 'no' : 'unknown', code)
  }

  #unavailable (): StorageUnavailableError {
    const { state, lastError } = this.#connection
    const reason = lastError ? `: ${lastError.message}` : ''
    // Never sent: not applied.
    return new StorageUnavailableError(`Tarantool is ${state}${reason}`, 'no')
  }

  // Logged in: the responses are ours to read from here on (see the class comment).
  #onConnect (socket: Socket): void {
    this.#socket = socket
    const reader = new ResponseReader()
    socket.on('data', (chunk: Buffer) => {
      this.#received++
      try {
        reader.push(chunk, (response) => this.#answer(response))
      } catch (err) {
        this.#connection.drop(socket, new StorageUnavailableError(`Tarantool sent what cannot be read: ${(err as Error).message}`))
      }
    })
    this.emit('leader', this.#address)
    this.emit('connect')
  }

  #onLost (err: StorageUnavailableError, wasConnected: boolean): void {
    this.#socket = undefined
    this.#failAll(err)
    // Those failed calls not written yet must not go out on the next connection.
    this.#writer.clear()
    if (!wasConnected) return
    this.emit('leader', undefined)
    this.emit('disconnect', this.#connection.lastError ?? err)
  }

  #failAll (err: Error): void {
    for (const pending of [...this.#pending.values()]) this.#fail(pending, err)
  }
}

import { EventEmitter } from 'node:events'
import TarantoolConnection from 'tarantool-driver'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { TarantoolTarget } from '../config.js'
import { RequestWriter, ResponseReader, Uuid, responseErrorCode, type Response } from './iproto.js'
import type { CallOutcome, ConnectionState, Tarantool } from './tarantool.js'
import { ER, errorKind, StorageAuthError, StorageError, StorageUnavailableError } from './tarantool-errors.js'

export interface TarantoolClientOptions extends TarantoolTarget {
  /** Longest wait for the answer to one call, in milliseconds. */
  timeoutMs: number
  /** The most calls waiting on Tarantool at once; more fail at once, unsent (default: no limit). */
  maxInFlight?: number
  /** How long after a login refused with ER_LOADING any refused login means "not ready yet" (default 10 s). */
  startingGraceMs?: number
  /**
   * Whether Tarantool is starting as far as others can tell (the other members of its replica set:
   * one said ER_LOADING within the grace): a refused login then means "not ready yet" too.
   */
  starting?: () => boolean
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

const HANDSHAKE_MIN_MS = 1000
const RETRY_STEP_MS = 50
const RETRY_MAX_MS = 500
// A member that has just bootstrapped may not have the service user yet: it comes with the set's
// first migrations, by replication (with elections, once the first leader is elected).
const STARTING_GRACE_MS = 10_000

/**
 * Our interface to Tarantool, over tarantool-driver. The driver keeps the socket, the greeting and
 * authentication; this class adds what a service needs and the driver lacks:
 * - a timeout on every call, and a connection that answers nothing for a whole timeout is dropped
 *   and made anew (the driver would wait on it forever);
 * - calls in flight fail as soon as the connection drops (the driver leaves them pending);
 * - no offline queue: while disconnected, calls fail at once;
 * - reconnects with backoff, each attempt bounded in time, and none after Tarantool rejected the
 *   credentials (the driver retries those forever); a login refused because Tarantool is still
 *   loading or bootstrapping (ER_LOADING) is not a rejection: it is tried again;
 * - IPROTO_CALL (the driver only speaks the old call_16, which reshapes results);
 * - requests are written to the socket directly, and responses read from it once logged in: the
 *   driver's send path misreads its own state while a response is half-read, and then queues the
 *   request until the next reconnect; its reader decodes with msgpack-lite, at twice the cost;
 * - the calls made within one turn of the event loop go out in one socket write, and one timer
 *   watches the deadlines of all calls in flight (not one timer per call).
 *
 * Events: 'connect' (each time a connection is ready), 'disconnect' (Error), 'auth_failed' (Error),
 * 'loading' (Error: the first login refused as not ready yet since the last connection; the client
 * keeps trying), 'call' (procedure name, seconds, CallOutcome) as each call ends.
 */
export class TarantoolClient extends EventEmitter implements Tarantool {
  readonly #driver: TarantoolConnection
  readonly #timeoutMs: number
  readonly #maxInFlight: number
  readonly #user: string
  // Calls in flight by sync, oldest (so soonest deadline) first.
  readonly #pending = new Map<number, Pending>()
  #sync = 0
  readonly #writer = new RequestWriter()
  #flushScheduled = false
  #deadlineTimer: NodeJS.Timeout | undefined
  #state: ConnectionState = 'connecting'
  #lastError: Error | undefined
  #attempts = 0
  #retryTimer: NodeJS.Timeout | undefined
  #handshakeTimer: NodeJS.Timeout | undefined
  // Chunks received on the current connection: a call that times out with this unchanged since
  // it was sent means the connection answers nothing at all.
  #received = 0
  // The error code of the last answer the driver read (the login's), and when a login was last
  // refused with ER_LOADING since the last connection (ms, performance.now()).
  #loginCode: number | undefined
  #loadingAt: number | undefined
  readonly #startingGraceMs: number
  readonly #starting: () => boolean

  constructor (opts: TarantoolClientOptions) {
    super()
    this.#timeoutMs = opts.timeoutMs
    this.#maxInFlight = opts.maxInFlight ?? Infinity
    this.#user = opts.user
    this.#startingGraceMs = opts.startingGraceMs ?? STARTING_GRACE_MS
    this.#starting = opts.starting ?? (() => false)
    this.#driver = new TarantoolConnection({
      // A unix socket (the embedded Tarantool's), or a host and port.
      ...(opts.path !== undefined ? { path: opts.path } : { host: opts.host, port: opts.port }),
      username: opts.user,
      password: opts.password,
      timeout: opts.timeoutMs,
      lazyConnect: true,
      enableOfflineQueue: false,
      // Reconnecting is ours (#onClose): the driver's own loop cannot tell a refused login.
      retryStrategy: () => null
    })
    this.#driver.on('connect', () => this.#onConnect())
    this.#driver.on('close', () => this.#onClose())
    this.#driver.on('error', (err: Error) => this.#onError(err))
    // The driver reads the login's answer and keeps only its message: its code is noted here
    // (#onError). Not on the calls' path: their answers are read by #onConnect's reader.
    const processResponse = this.#driver._processResponse
    this.#driver._processResponse = (buf: Buffer, offset?: number, ...rest: unknown[]) => {
      this.#loginCode = responseErrorCode(buf, offset ?? 0)
      processResponse.call(this.#driver, buf, offset, ...rest)
    }
    this.#connect()
  }

  /** The connection's state right now. */
  get state (): ConnectionState {
    return this.#state
  }

  /** Whether a login was refused with ER_LOADING within the grace, since the last connection. */
  get loading (): boolean {
    return this.#loadingAt !== undefined && performance.now() - this.#loadingAt < this.#startingGraceMs
  }

  /** The last connection error, if any: for logs and readiness. */
  get lastError (): Error | undefined {
    return this.#lastError
  }

  /** Calls a stored procedure and resolves with all the values it returned. */
  call (name: string, args: unknown[]): Promise<unknown[]> {
    const socket = this.#driver.socket
    if (this.#state !== 'connected' || socket === undefined || !socket.writable) {
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
    const socket = this.#driver.socket
    // Calls are taken only while connected, and a lost connection drops what it had not sent
    // (#onClose): what is here is for this connection. One that is failing now fails its calls.
    if (this.#state === 'connected' && socket !== undefined && !socket.destroyed) socket.write(requests)
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
        this.#lastError = new StorageUnavailableError('Tarantool stopped answering')
        pending.socket.destroy()
      }
    }
  }

  /** Resolves once connected; rejects on bad credentials, on close, or after `timeoutMs`. */
  waitConnected (timeoutMs: number): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve()
    if (this.#state === 'auth_failed' && this.#lastError) return Promise.reject(this.#lastError)
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
    if (this.#state === 'closed') return
    this.#state = 'closed'
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#handshakeTimer)
    clearTimeout(this.#deadlineTimer)
    this.#driver.disconnect()
    this.#driver.socket?.destroy()
    this.#failAll(new StorageUnavailableError('The Tarantool client was closed'))
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
    const reason = this.#lastError ? `: ${this.#lastError.message}` : ''
    // Never sent: not applied.
    return new StorageUnavailableError(`Tarantool is ${this.#state}${reason}`, 'no')
  }

  #connect (): void {
    // Connecting, the greeting and the login together get a bounded time.
    this.#handshakeTimer = setTimeout(() => {
      this.#lastError = new StorageUnavailableError('Tarantool did not complete the handshake in time')
      this.#driver.socket?.destroy()
    }, Math.max(this.#timeoutMs, HANDSHAKE_MIN_MS))
    this.#driver.connect().catch(() => { /* reported through 'error' and 'close' */ })
  }

  #onConnect (): void {
    clearTimeout(this.#handshakeTimer)
    if (this.#state === 'closed') return
    this.#state = 'connected'
    this.#attempts = 0
    this.#loadingAt = undefined
    this.#lastError = undefined
    const socket = this.#driver.socket
    if (socket !== undefined) {
      // Logged in: the responses are ours to read from here on (see the class comment).
      for (const listener of socket.listeners('data')) socket.off('data', listener as (chunk: Buffer) => void)
      const reader = new ResponseReader()
      socket.on('data', (chunk: Buffer) => {
        this.#received++
        try {
          reader.push(chunk, (response) => this.#answer(response))
        } catch (err) {
          this.#lastError = new StorageUnavailableError(`Tarantool sent what cannot be read: ${(err as Error).message}`)
          socket.destroy()
        }
      })
    }
    this.emit('connect')
  }

  #onClose (): void {
    clearTimeout(this.#handshakeTimer)
    if (this.#state === 'closed' || this.#state === 'auth_failed') return
    const wasConnected = this.#state === 'connected'
    this.#state = 'disconnected'
    const err = new StorageUnavailableError('Connection to Tarantool lost')
    this.#failAll(err)
    // Those failed calls not written yet must not go out on the next connection.
    this.#writer.clear()
    if (wasConnected) this.emit('disconnect', this.#lastError ?? err)
    this.#attempts++
    this.#retryTimer = setTimeout(() => this.#connect(), Math.min(RETRY_STEP_MS * this.#attempts, RETRY_MAX_MS))
  }

  #onError (err: Error): void {
    // Only Tarantool's own answer to the login is a refusal; a socket error then is not.
    const refused = this.#driver.state === this.#driver.states.AUTH && err.name === 'TarantoolError'
    if (refused && this.#loginCode === ER.LOADING) {
      // Still loading its data, or waiting for its replica set to bootstrap: not ready yet, not a
      // refusal of the credentials. The driver closes the connection, and #onClose tries again.
      this.#lastError = new StorageUnavailableError(`Tarantool is still loading: ${err.message}`, 'no', ER.LOADING)
      const first = this.#loadingAt === undefined
      this.#loadingAt = performance.now()
      if (first && this.#state !== 'closed') this.emit('loading', this.#lastError)
      return
    }
    if (refused && (this.loading || this.#starting())) {
      // Loading a moment ago: its users may not be there yet (STARTING_GRACE_MS). Tried again
      // likewise; past the grace, the same refusal stops the client.
      this.#lastError = new StorageUnavailableError(`Tarantool is still starting: ${err.message}`, 'no', this.#loginCode)
      return
    }
    if (refused && this.#state !== 'closed' && this.#state !== 'auth_failed') {
      this.#state = 'auth_failed'
      this.#lastError = new StorageAuthError(`Tarantool rejected user '${this.#user}': ${err.message}`)
      this.#failAll(this.#lastError)
      this.emit('auth_failed', this.#lastError)
      return
    }
    this.#lastError = err
  }

  #failAll (err: Error): void {
    for (const pending of [...this.#pending.values()]) this.#fail(pending, err)
  }
}

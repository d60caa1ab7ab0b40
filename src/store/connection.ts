import TarantoolConnection from 'tarantool-driver'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { TarantoolTarget } from '../config.js'
import { responseErrorCode } from './iproto.js'
import type { ConnectionState } from './tarantool.js'
import { ER, StorageAuthError, StorageUnavailableError } from './tarantool-errors.js'

export interface ConnectionOptions extends TarantoolTarget {
  /** Longest wait for the answer to one call, in milliseconds; the handshake gets at least as long. */
  timeoutMs: number
  /** How long after a login refused with ER_LOADING any refused login means "not ready yet" (default 10 s). */
  startingGraceMs?: number
  /**
   * Whether Tarantool is starting as far as others can tell (the other members of its replica set:
   * one said ER_LOADING within the grace): a refused login then means "not ready yet" too.
   */
  starting?: () => boolean
}

/** What a Connection tells the client that owns it. */
export interface ConnectionOwner {
  /** Logged in: the socket's answers are the owner's to read from here on. */
  connected: (socket: Socket) => void
  /** The connection closed (`wasConnected`: one that had logged in); it is made anew after a pause. */
  lost: (err: StorageUnavailableError, wasConnected: boolean) => void
  /** The first login refused as not ready yet since the last connection; it is tried again. */
  loading: (err: StorageUnavailableError) => void
  /** Tarantool rejected the credentials: the connection stops trying. */
  refused: (err: StorageAuthError) => void
}

const HANDSHAKE_MIN_MS = 1000
const RETRY_STEP_MS = 50
const RETRY_MAX_MS = 500
// A member that has just bootstrapped may not have the service user yet: it comes with the set's
// first migrations, by replication (with elections, once the first leader is elected).
const STARTING_GRACE_MS = 10_000

/**
 * The connection under a TarantoolClient, over tarantool-driver. The driver keeps the socket, the
 * greeting and authentication; this adds reconnects with backoff, each attempt bounded in time,
 * and none after Tarantool rejected the credentials (the driver retries those forever); a login
 * refused because Tarantool is still loading or bootstrapping (ER_LOADING) is not a rejection: it
 * is tried again. Once logged in, the socket is handed to the owner, who writes the calls and
 * reads their answers itself (see TarantoolClient).
 */
export class Connection {
  readonly #driver: TarantoolConnection
  readonly #owner: ConnectionOwner
  readonly #timeoutMs: number
  readonly #user: string
  #state: ConnectionState = 'connecting'
  #lastError: Error | undefined
  #attempts = 0
  #retryTimer: NodeJS.Timeout | undefined
  #handshakeTimer: NodeJS.Timeout | undefined
  // The error code of the last answer the driver read (the login's), and when a login was last
  // refused with ER_LOADING since the last connection (ms, performance.now()).
  #loginCode: number | undefined
  #loadingAt: number | undefined
  readonly #startingGraceMs: number
  readonly #starting: () => boolean

  constructor (opts: ConnectionOptions, owner: ConnectionOwner) {
    this.#owner = owner
    this.#timeoutMs = opts.timeoutMs
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
    // (#onError). Not on the calls' path: their answers are read by the owner.
    const processResponse = this.#driver._processResponse.bind(this.#driver)
    this.#driver._processResponse = (buf: Buffer, offset?: number, ...rest: unknown[]) => {
      this.#loginCode = responseErrorCode(buf, offset ?? 0)
      processResponse(buf, offset, ...rest)
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

  /** Drops `socket` for `reason` (it answers nothing, or what cannot be read); a new one is made. */
  drop (socket: Socket, reason: Error): void {
    this.#lastError = reason
    socket.destroy()
  }

  /** Closes the connection for good. */
  close (): void {
    this.#state = 'closed'
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#handshakeTimer)
    this.#driver.disconnect()
    this.#driver.socket?.destroy()
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
    // The driver's 'connect' comes with its socket, logged in.
    const socket = this.#driver.socket!
    // The responses are the owner's to read from here on (see TarantoolClient).
    for (const listener of socket.listeners('data')) socket.off('data', listener as (chunk: Buffer) => void)
    this.#owner.connected(socket)
  }

  #onClose (): void {
    clearTimeout(this.#handshakeTimer)
    if (this.#state === 'closed' || this.#state === 'auth_failed') return
    const wasConnected = this.#state === 'connected'
    this.#state = 'disconnected'
    this.#owner.lost(new StorageUnavailableError('Connection to Tarantool lost'), wasConnected)
    this.#attempts++
    this.#retryTimer = setTimeout(() => this.#connect(), Math.min(RETRY_STEP_MS * this.#attempts, RETRY_MAX_MS))
  }

  #onError (err: Error): void {
    // Only Tarantool's own answer to the login is a refusal; a socket error then is not.
    const refused = this.#driver.state === this.#driver.states.AUTH && err.name === 'TarantoolError'
    if (refused && this.#loginCode === ER.LOADING) {
      // Still loading its data, or waiting for its replica set to bootstrap: not ready yet, not a
      // refusal of the credentials. The driver closes the connection, and #onClose tries again.
      const loading = new StorageUnavailableError(`Tarantool is still loading: ${err.message}`, 'no', ER.LOADING)
      this.#lastError = loading
      const first = this.#loadingAt === undefined
      this.#loadingAt = performance.now()
      if (first && this.#state !== 'closed') this.#owner.loading(loading)
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
      const rejected = new StorageAuthError(`Tarantool rejected user '${this.#user}': ${err.message}`)
      this.#lastError = rejected
      this.#owner.refused(rejected)
      return
    }
    this.#lastError = err
  }
}

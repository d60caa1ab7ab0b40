import { backoffMs } from './backoff.js'
import { SessionCache, type CacheOptions, type CacheStats, type Touched } from './cache.js'
import { ENDPOINTS, type Endpoint, type EndpointName, type QueryOf } from './endpoints.js'
import { SessionsError } from './errors.js'
import { envelope, retriable, sleep, transportError } from './transport.js'

/** A session's extra data: a JSON object. */
export type Extra = Record<string, unknown>

/** The API's SessionObject. */
export interface Session {
  /** The user's current address, in canonical form. */
  ip: string
  extra: Extra | null
  user_id: number
  /** Unix seconds. */
  create: number
  /** The last use by /get, Unix seconds. */
  activity: number
  /** The Unix second from which the session is gone if not used again. */
  expires: number
  /** The session id: names the session for good and is not a secret. */
  id: string
  /** Absent from lists and from deleteById when the service runs with TOKEN_STORAGE=hashed. */
  token?: string
}

/** A session answered to a caller who holds its token: create, get, delete, rotate. */
export interface SessionWithToken extends Session {
  token: string
}

/** A page of a list, and the cursor of the next page (null on the last). */
export interface SessionPage {
  sessions: Session[]
  next: string | null
}

/** What happened to a session, as GET /events tells it (the service's docs/api.md, "Session events"). */
export interface SessionEvent {
  /** Increasing from one event to the next: the `after` of a later page. */
  seq: number
  /** `reset`: the ids of sessions changed (TOKEN_STORAGE=hashed); names no session. */
  type: 'created' | 'revoked' | 'rotated' | 'updated' | 'reset'
  /** Unix seconds, to the millisecond. */
  time: number
  /** The session's id (never its token); absent from `reset`. */
  id?: string
  user_id?: number
  /** The session's ip after the change; absent from `reset`. */
  ip?: string
  /** On `revoked`: deleted, signed_out, ip_signed_out, evicted or expired; on `reset`: tokens_hashed. */
  reason?: string
}

/** A page of events. */
export interface EventPage {
  events: SessionEvent[]
  /** The `after` of the next call. */
  next: number
  /** Events after `after` were dropped before this page (older than the service's EVENTS_RETENTION_SECONDS), or `after` is not this service's. */
  reset: boolean
}

/** A member of a replica set, as /ready reports it. */
export interface ReplicaMember {
  address: string
  connection: string
  ro?: boolean
  status?: string
  leader: boolean
  lag?: number
}

/** What /ready answers when the service can serve. */
export interface ReadyState {
  tarantool_version: string
  sessions: number
  leader?: string
  members?: ReplicaMember[]
}

/** What the client needs of `fetch`: the global one fits, and so does undici's. */
export type FetchLike = (url: string, init: {
  method: string
  headers: Record<string, string>
  body?: string
  signal: AbortSignal
}) => Promise<{
  status: number
  text: () => Promise<string>
  /** Read by the cache's event stream only (a fetch without them serves a client without a cache). */
  headers?: { get: (name: string) => string | null }
  /** The body as it arrives: the cache's event stream reads it. */
  body?: AsyncIterable<Uint8Array> | null
}>

/** Options any call takes; they override the client's own for this call. */
export interface CallOptions {
  /** Longest wait for each request's whole answer, in milliseconds. */
  timeoutMs?: number
  /** Most retries of this call, for the failures its method may be retried on. */
  retries?: number
}

export interface CreateOptions extends CallOptions {
  /** Seconds unused after which the session is gone (1 to 315360000; default: the service's). */
  ttl?: number
  /** Seconds after its creation after which the session is gone however used. */
  lifetime?: number
}

export interface GetOptions extends CallOptions {
  /** The user's current address: it becomes the session's. */
  ip?: string
  /** Keys merged into the session's extra data (shallow: a key sent replaces the stored one). */
  extra?: Extra
}

export interface ListOptions extends CallOptions {
  /** Most sessions in a page, 1 to 1000 (default: the service's LIST_LIMIT). */
  limit?: number
  /** The `next` cursor of the previous page. */
  after?: string
}

export interface EventsOptions extends CallOptions {
  /** The seq of the last event read (0, the default: from the oldest kept). */
  after?: number
  /** Most events in the page, 1 to 1000 (default 100). */
  limit?: number
  /** Only this user's events: where and when they signed in and out. */
  userId?: number
}

export interface DeleteUserOptions extends CallOptions {
  /** The token of the one session to keep. */
  except?: string
  /** Or its id. */
  exceptId?: string
}

export interface SessionsClientOptions extends CallOptions {
  /** Where the service is, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string
  /** Sent as `Authorization: Bearer <apiKey>` when the service runs with API_KEY. */
  apiKey?: string
  /** Another fetch (undici's with a dispatcher of its own, say); the global one by default. */
  fetch?: FetchLike
  /**
   * Answer `get(token)` from memory, kept current by the service's event stream (`GET /events`),
   * which the client then holds open until `close()`. See the README's "Caching lookups".
   */
  cache?: CacheOptions
}

const DEFAULT_TIMEOUT_MS = 5000
const DEFAULT_RETRIES = 2

/** A typed client of the sessions service: one method per endpoint. */
export class SessionsClient {
  readonly #base: string
  readonly #headers: Record<string, string>
  readonly #timeoutMs: number
  readonly #retries: number
  readonly #fetch: FetchLike
  readonly #cache: SessionCache | undefined

  constructor (opts: SessionsClientOptions) {
    this.#base = new URL(opts.baseUrl).href.replace(/\/+$/, '')
    this.#headers = { accept: 'application/json', ...(opts.apiKey === undefined ? {} : { authorization: `Bearer ${opts.apiKey}` }) }
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#retries = opts.retries ?? DEFAULT_RETRIES
    this.#fetch = opts.fetch ?? (async (url, init) => await globalThis.fetch(url, init))
    this.#cache = opts.cache === undefined
      ? undefined
      : new SessionCache({ ...opts.cache, url: `${this.#base}/events`, headers: this.#headers, fetch: this.#fetch })
  }

  /** Whether the client was made with a cache (then `get(token)` may be answered from memory). */
  get caching (): boolean {
    return this.#cache !== undefined
  }

  /** The cache's counters and its stream's state; undefined without a cache. */
  cacheStats (): CacheStats | undefined {
    return this.#cache?.stats()
  }

  /** Ends the cache's event stream (and its reconnecting); the client goes on without a cache. Idempotent. */
  async close (): Promise<void> {
    await this.#cache?.close()
  }

  /** Creates a session for a user at an address; `extra` becomes its extra data. Not retried once sent. */
  async create (userId: number, ip: string, extra?: Extra | null, opts: CreateOptions = {}): Promise<SessionWithToken> {
    return await this.#data('create', { user_id: userId, ip, ttl: opts.ttl, lifetime: opts.lifetime }, opts, extra ?? undefined) as SessionWithToken
  }

  /**
   * The live session of a token, marked used; `ip` becomes its current address, `extra` is merged
   * into its extra data. With a cache, a call without ip or extra may be answered from memory
   * (then the session is not marked used at the service).
   */
  async get (token: string, opts: GetOptions = {}): Promise<SessionWithToken> {
    const cache = this.#cache
    const call = async (): Promise<SessionWithToken> => await this.#data('get', { token, ip: opts.ip }, opts, opts.extra) as SessionWithToken
    if (cache === undefined) return await call()
    if (opts.ip !== undefined || opts.extra !== undefined) return await this.#changing(call(), (session) => ({ token, id: session?.id }))
    const cached = cache.lookup(token)
    if (cached !== undefined) return cached
    const ticket = cache.ticket()
    const session = await call()
    cache.store(token, ticket, session)
    return session
  }

  /** Ends the session of a token, and returns it as it was. */
  async delete (token: string, opts: CallOptions = {}): Promise<SessionWithToken> {
    return await this.#changing(this.#data('delete', { token }, opts) as Promise<SessionWithToken>, (session) => ({ token, id: session?.id }))
  }

  /** Ends the session of an id, and returns it as it was. */
  async deleteById (id: string, opts: CallOptions = {}): Promise<Session> {
    return await this.#changing(this.#data('deleteById', { id }, opts) as Promise<Session>, () => ({ id }))
  }

  /** A page of a user's live sessions, most recently used first. */
  async user (userId: number, opts: ListOptions = {}): Promise<SessionPage> {
    return await this.#page('user', { id: userId, limit: opts.limit, after: opts.after }, opts)
  }

  /** A page of the live sessions whose current address is this one, most recently used first. */
  async ip (ip: string, opts: ListOptions = {}): Promise<SessionPage> {
    return await this.#page('ip', { ip, limit: opts.limit, after: opts.after }, opts)
  }

  /** Every live session of a user, page after page. */
  eachOfUser (userId: number, opts: Omit<ListOptions, 'after'> = {}): AsyncGenerator<Session, void, undefined> {
    return this.#each(async (after) => await this.user(userId, { ...opts, after }))
  }

  /** Every live session at an address, page after page. */
  eachAtIp (ip: string, opts: Omit<ListOptions, 'after'> = {}): AsyncGenerator<Session, void, undefined> {
    return this.#each(async (after) => await this.ip(ip, { ...opts, after }))
  }

  /** Ends every session of a user but the one named by `except` (token) or `exceptId`; returns how many ended. */
  async deleteUser (userId: number, opts: DeleteUserOptions = {}): Promise<number> {
    const data = this.#data('deleteUser', { id: userId, except: opts.except, except_id: opts.exceptId }, opts)
    return (await this.#changing(data, () => ({ userId })) as { deleted: number }).deleted
  }

  /** Ends every session whose current address is this one; returns how many ended. */
  async deleteIp (ip: string, opts: CallOptions = {}): Promise<number> {
    return (await this.#changing(this.#data('deleteIp', { ip }, opts), () => ({ ip })) as { deleted: number }).deleted
  }

  /** Gives a session a new token; the old one keeps working for `grace` seconds (0 to 60). Not retried once sent. */
  async rotate (token: string, opts: CallOptions & { grace?: number } = {}): Promise<SessionWithToken> {
    return await this.#changing(this.#data('rotate', { token, grace: opts.grace }, opts) as Promise<SessionWithToken>, (session) => ({ token, id: session?.id }))
  }

  /**
   * A page of session events after `opts.after`, oldest first: for a backend that polls or audits
   * (a cache follows the stream instead: the `cache` option). Call again with `next`.
   */
  async events (opts: EventsOptions = {}): Promise<EventPage> {
    const body = await this.#call('events', { after: opts.after, limit: opts.limit, user_id: opts.userId }, opts)
    return { events: body.data as SessionEvent[], next: body.next as number, reset: body.reset === true }
  }

  /** The service's readiness; throws storage_unavailable when it cannot serve. */
  async ready (opts: CallOptions = {}): Promise<ReadyState> {
    return await this.#data('ready', {}, opts) as ReadyState
  }

  /**
   * Awaits a call that ends or changes sessions, then, with a cache, drops what it touched: whatever
   * the outcome, since a call that failed may still have been applied.
   */
  async #changing<T> (call: Promise<T>, touched: (answer: T | undefined) => Touched): Promise<T> {
    let answer: T | undefined
    try {
      answer = await call
      return answer
    } finally {
      this.#cache?.changed(touched(answer))
    }
  }

  async * #each (page: (after: string | undefined) => Promise<SessionPage>): AsyncGenerator<Session, void, undefined> {
    let after: string | undefined
    do {
      const { sessions, next } = await page(after)
      yield * sessions
      after = next ?? undefined
    } while (after !== undefined)
  }

  async #page<N extends EndpointName> (name: N, query: QueryOf<N>, opts: CallOptions): Promise<SessionPage> {
    const body = await this.#call(name, query, opts)
    return { sessions: body.data as Session[], next: body.next as string | null }
  }

  async #data<N extends EndpointName> (name: N, query: QueryOf<N>, opts: CallOptions, extra?: Extra): Promise<unknown> {
    return (await this.#call(name, query, opts, extra)).data
  }

  /** Sends the endpoint's request, again after a failure while its retry policy allows; the success envelope. */
  async #call<N extends EndpointName> (name: N, query: QueryOf<N>, opts: CallOptions, extra?: Extra): Promise<Record<string, unknown>> {
    const endpoint: Endpoint = ENDPOINTS[name]
    const params = new URLSearchParams()
    for (const key of endpoint.query) {
      const value = (query as Record<string, string | number | undefined>)[key]
      if (value !== undefined) params.set(key, String(value))
    }
    const url = `${this.#base}${endpoint.path}${params.size === 0 ? '' : `?${params.toString()}`}`
    const body = endpoint.body && extra !== undefined ? JSON.stringify(extra) : undefined
    const init = {
      method: body === undefined ? endpoint.method : 'POST',
      headers: body === undefined ? this.#headers : { ...this.#headers, 'content-type': 'application/json' },
      body
    }
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs
    const retries = opts.retries ?? this.#retries
    for (let attempt = 1; ; attempt++) {
      let outcome: Record<string, unknown> | SessionsError
      try {
        const res = await this.#fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
        outcome = envelope(endpoint.reply, res.status, await res.text(), attempt)
      } catch (err) {
        outcome = transportError(err, attempt, timeoutMs)
      }
      if (!(outcome instanceof SessionsError)) return outcome
      if (attempt > retries || !retriable(outcome, endpoint.retry)) throw outcome
      await sleep(backoffMs(attempt))
    }
  }
}

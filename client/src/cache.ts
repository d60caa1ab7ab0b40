// The caching of `get(token)`: answers kept in memory and dropped when the service's event stream
// (GET /events) names their session. How the race between an answer and a revocation is closed is
// told at SessionCache.store below, and in the client's README ("Caching lookups").
import type { FetchLike, SessionWithToken } from './client.js'
import { EventStream, type SseEvent } from './event-stream.js'

export interface CacheOptions {
  /** Longest reuse of an answer, in milliseconds after its request was sent. */
  ttlMs: number
  /** Most sessions kept; the least recently used one goes first. */
  max: number
  /**
   * Not a setting: for tests. Silence of the stream, in milliseconds, after which it is not current
   * (default 10000: twice the service's heartbeat of at most 5 s).
   */
  staleMs?: number
}

/** What the cache did so far and where its stream stands. */
export interface CacheStats {
  /** `get(token)` calls answered from memory. */
  hits: number
  /** `get(token)` calls (without ip or extra) that went to the service. */
  misses: number
  /** Sessions held. */
  entries: number
  /** Whether the stream is connected and current: only then is anything answered from memory. */
  streamConnected: boolean
  /** The sequence number of the last event received (a `reset`'s too); null before the first. */
  lastEventSeq: number | null
}

/** A change this client made: the cached sessions it may touch, by any of these. */
export interface Touched {
  token?: string
  id?: string
  userId?: number
  ip?: string
}

/** Where the stream stood when a request was sent. */
export interface Ticket {
  /** Events received until then (a local count, not the service's sequence). */
  received: number
  barrier: number
  sentAt: number
}

interface Entry {
  id: string
  userId: number
  ip: string
  /** The answer as JSON: each hit gets a copy of its own, as from a call to the service. */
  json: string
  /** performance.now() from which it is not answered: ttlMs after its request was sent. */
  freshUntil: number
  /** Date.now() at the session's expires. */
  expiresAt: number
}

const DEFAULT_STALE_MS = 10_000
/** Revocation-like events remembered per session id, for answers still on their way: at most this many... */
const RECENT_MAX = 10_000
/** ...for at most this long. An answer sent before the oldest one forgotten is not kept. */
const RECENT_MS = 60_000

/**
 * Sessions by token, least recently used first, served while the event stream is current and
 * dropped by the events naming them.
 */
export class SessionCache {
  readonly #ttlMs: number
  readonly #max: number
  readonly #stream: EventStream
  readonly #entries = new Map<string, Entry>()
  /** The tokens held of each session id: an event names the session, not the token. */
  readonly #tokensOf = new Map<string, Set<string>>()
  /** Session id -> the local count at its last event, and when; in the order received. */
  readonly #recent = new Map<string, { received: number, at: number }>()
  /** Events received by this cache so far. */
  #received = 0
  /** The highest count dropped from #recent: for answers sent before it, #recent cannot tell. */
  #forgotten = 0
  /** Moved on by whatever an answer on its way must not survive: a reset, a gap, a change by this client. */
  #barrier = 0
  #hits = 0
  #misses = 0

  constructor (opts: CacheOptions & { url: string, headers: Record<string, string>, fetch: FetchLike }) {
    if (!(opts.ttlMs > 0) || !Number.isInteger(opts.max) || opts.max < 1) throw new TypeError('cache: ttlMs must be > 0 and max an integer >= 1')
    this.#ttlMs = opts.ttlMs
    this.#max = opts.max
    this.#stream = new EventStream({
      url: opts.url,
      headers: opts.headers,
      fetch: opts.fetch,
      staleMs: opts.staleMs ?? DEFAULT_STALE_MS,
      onOpen: (resumed) => { this.#opened(resumed) },
      onEvent: (event) => { this.#event(event) }
    })
  }

  /** The session of a token from memory, when it may be answered from there. */
  lookup (token: string): SessionWithToken | undefined {
    const entry = this.#entries.get(token)
    if (entry !== undefined && this.#stream.current) {
      if (performance.now() < entry.freshUntil && Date.now() < entry.expiresAt) {
        this.#entries.delete(token)
        this.#entries.set(token, entry)
        this.#hits++
        return JSON.parse(entry.json) as SessionWithToken
      }
      this.#drop(token)
    }
    this.#misses++
    return undefined
  }

  /** Where the stream stands as a request is sent; undefined when its answer may not be kept. */
  ticket (): Ticket | undefined {
    if (!this.#stream.current) return undefined
    return { received: this.#received, barrier: this.#barrier, sentAt: performance.now() }
  }

  /**
   * Keeps the service's answer for a token, unless an event that ends or changes the session may
   * have come after the service read it. The answer was read somewhere between the ticket and now;
   * an event the stream delivered meanwhile may describe a change made after that read, so the
   * answer could be older than what the stream has already said. It is kept only when:
   * - the stream was current when the request was sent and is now (so it was listening the whole
   *   time, or resumed where it was after a cut, the missed events received before it counted as
   *   current again: any change after the read is either received already or still to come, and
   *   then it drops the entry);
   * - no reset, no reconnection without resuming, and no change by this client came in between
   *   (the barrier did not move);
   * - no event naming this session arrived after the request was sent (#recent, which remembers
   *   such events for 60 s or 10,000 ids; an answer older than what it forgot is not kept).
   */
  store (token: string, ticket: Ticket | undefined, session: SessionWithToken): void {
    if (ticket === undefined || !this.#stream.current || ticket.barrier !== this.#barrier || ticket.received < this.#forgotten) return
    if (typeof session.id !== 'string' || typeof session.expires !== 'number') return
    if ((this.#recent.get(session.id)?.received ?? 0) > ticket.received) return
    this.#drop(token)
    this.#entries.set(token, {
      id: session.id,
      userId: session.user_id,
      ip: session.ip,
      json: JSON.stringify(session),
      freshUntil: ticket.sentAt + this.#ttlMs,
      expiresAt: session.expires * 1000
    })
    let tokens = this.#tokensOf.get(session.id)
    if (tokens === undefined) this.#tokensOf.set(session.id, tokens = new Set())
    tokens.add(token)
    if (this.#entries.size > this.#max) this.#drop(this.#entries.keys().next().value!)
  }

  /**
   * After a change by this client (whatever its outcome: a failed call may have been applied), drops
   * the sessions it may have touched, and keeps no answer already on its way.
   */
  changed (touched: Touched): void {
    this.#barrier++
    if (touched.token !== undefined) {
      const id = this.#entries.get(touched.token)?.id
      this.#drop(touched.token)
      if (id !== undefined) this.#dropId(id)
    }
    if (touched.id !== undefined) this.#dropId(touched.id)
    if (touched.userId === undefined && touched.ip === undefined) return
    for (const [token, entry] of this.#entries) {
      if (entry.userId === touched.userId || entry.ip === touched.ip) this.#drop(token)
    }
  }

  stats (): CacheStats {
    const seq = this.#stream.lastEventId
    return {
      hits: this.#hits,
      misses: this.#misses,
      entries: this.#entries.size,
      streamConnected: this.#stream.current,
      lastEventSeq: seq === '' ? null : Number(seq)
    }
  }

  /** Ends the stream; nothing is answered from memory any more. */
  async close (): Promise<void> {
    await this.#stream.close()
    this.#clear()
  }

  /**
   * A connection caught up. One that resumed after the last event received has delivered what it
   * missed (or `reset`): what is held is as current as before the cut. One that could not resume
   * (no event received yet) started from now: what happened while away is lost, so all goes.
   */
  #opened (resumed: boolean): void {
    if (!resumed) this.#clear()
  }

  #event (event: SseEvent): void {
    if (event.type === 'reset') {
      this.#clear()
      return
    }
    this.#received++
    if (event.type === 'created') return
    let id: unknown
    try {
      id = (JSON.parse(event.data) as { id?: unknown }).id
    } catch {
      // Below: an event that cannot be read may have named any session.
    }
    if (typeof id !== 'string') {
      this.#clear()
      return
    }
    // Any other type (revoked, rotated, updated, or one this client does not know yet) drops its session.
    const now = performance.now()
    this.#recent.delete(id)
    this.#recent.set(id, { received: this.#received, at: now })
    for (const [oldId, { received, at }] of this.#recent) {
      if (this.#recent.size <= RECENT_MAX && now - at <= RECENT_MS) break
      this.#recent.delete(oldId)
      this.#forgotten = received
    }
    this.#dropId(id)
  }

  /** Drops everything, and any answer on its way. */
  #clear (): void {
    this.#barrier++
    this.#entries.clear()
    this.#tokensOf.clear()
    this.#recent.clear()
    this.#forgotten = this.#received
  }

  #dropId (id: string): void {
    for (const token of this.#tokensOf.get(id) ?? []) this.#drop(token)
  }

  #drop (token: string): void {
    const entry = this.#entries.get(token)
    if (entry === undefined) return
    this.#entries.delete(token)
    const tokens = this.#tokensOf.get(entry.id)
    tokens?.delete(token)
    if (tokens?.size === 0) this.#tokensOf.delete(entry.id)
  }
}

import { ApiError } from '../api/errors.js'
import { CallBatch } from './call-batch.js'
import { uuidBytes } from './iproto.js'
import { callProcedure, PROC, unwrap } from './procedures.js'
import { SessionCodec, type ListName } from './session-codec.js'
import type { Tarantool } from './tarantool.js'
import type { EventPage, Extra, Lifetimes, PageRequest, ResetEvent, RevokeReason, Session, SessionEvent, SessionPage, SessionWithToken, StoredEvent, StorePolicy, StoreStats } from './types.js'

type SessionTuple = [
  key: string, userId: number, ip: unknown, create: number, activity: number, extra?: Extra | null,
  ttl?: number | null, ends?: number | null, origin?: string | null
]

/**
 * What Tarantool answers beside a session tuple, by name: its newest activity (a /get's is not in
 * the stored tuple yet), the second it is gone if not used again and its ip as text
 * (tarantool/sessions/expiry.lua and ips.lua compute them; the service only reports them).
 */
interface Answered {
  activity: number
  expires: number
  /** Its ip as text: Tarantool stores an IPv4 address as its number (tarantool/sessions/ips.lua). */
  ip: string
}

/** A session procedure's answer: the tuple, its failure, and what is answered beside it. */
type SessionReply = [SessionTuple | null, unknown, Answered?]

/** A page as the list procedures answer it: the stored tuples, what is answered beside each (as arrays), and where the next page starts. */
interface PageReply {
  sessions: SessionTuple[]
  activities: number[]
  expires: number[]
  ips: string[]
  next?: [activity: number, key: string]
}

/** An event as sessions_events holds it (tarantool/sessions/events.lua). */
type EventTuple = [
  seq: number, timeMs: number, type: StoredEvent['type'], userId: number, key: string, ip: unknown, reason?: RevokeReason | ResetEvent['reason'] | null
]

/** Whether a stored key is a token (uuid version 4) rather than a token's hash (version 0). */
function isToken (key: string): boolean {
  return key.charCodeAt(14) === 0x34
}

/**
 * An ip as /new and /get send it: an IPv4 address (a dotted quad, as params.ts lets through) as
 * the 32-bit number Tarantool stores it as (tarantool/sessions/ips.lua), anything else as its text.
 * Turning the text into the number there takes Lua's pattern matching, which LuaJIT cannot compile:
 * it cost Tarantool 2.5 to 3 µs per /new (the whole procedure ran interpreted), against about
 * 0.1 here.
 */
export function ipArgument (ip: string): number | string {
  let n = 0
  let part = 0
  let dots = 0
  let digits = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return ip
      n = n * 256 + part
      part = 0
      digits = 0
    } else if (c >= 0x30 && c <= 0x39) {
      part = part * 10 + c - 0x30
      if (++digits > 3 || part > 255) return ip
    } else {
      return ip
    }
  }
  if (dots !== 3 || digits === 0) return ip
  return n * 256 + part
}

/** Typed access to the sessions kept in Tarantool; callers never see procedure names or tuples. */
export class SessionsStore {
  readonly #client: Tarantool
  readonly #policy: StorePolicy
  readonly #plain: boolean
  readonly #news: CallBatch
  readonly #gets: CallBatch
  #codec: SessionCodec | undefined
  #codecLoading: Promise<SessionCodec> | undefined

  constructor (client: Tarantool, policy: StorePolicy) {
    this.#client = client
    this.#policy = policy
    this.#plain = policy.tokenStorage === 'plain'
    this.#news = new CallBatch(client, PROC.new, PROC.newMany)
    this.#gets = new CallBatch(client, PROC.get, PROC.getMany)
    // A new connection may reach another instance (restored, replaced) with another secret.
    client.on('connect', () => { this.#codec = undefined })
  }

  /**
   * Creates a session with a fresh token; too_many_sessions when the user is at the limit and the
   * policy is 'deny' (with 'evict_oldest', Tarantool ends the least recently used to make room).
   */
  create (token: string, userId: number, ip: string, extra: Extra | undefined, lifetimes: Lifetimes = {}): Promise<SessionWithToken> {
    // The codec first: a session created and then not answered would be a session nobody holds.
    const codec = this.#codec
    if (codec === undefined) return this.#codecOf().then(() => this.create(token, userId, ip, extra, lifetimes))
    const p = this.#policy
    const lifetime = lifetimes.lifetime ?? (p.maxLifetimeSeconds > 0 ? p.maxLifetimeSeconds : null)
    // Promises chained, not awaited in async functions: /get and /new are the hot path.
    return this.#news.call([this.#client.uuid(token), userId, ipArgument(ip), extra ?? null, {
      ttl: lifetimes.ttl ?? null,
      lifetime,
      extra_max_bytes: p.extraMaxBytes,
      max_sessions: p.maxSessionsPerUser,
      limit_policy: p.limitPolicy
    }]).then((values) => this.#answered(codec, values, token) as SessionWithToken)
  }

  /** Returns a live session, marking it used; updates its ip and merges extra when given. */
  touch (token: string, ip: string | undefined, extra: Extra | undefined): Promise<SessionWithToken> {
    const codec = this.#codec
    if (codec === undefined) return this.#codecOf().then(() => this.touch(token, ip, extra))
    const args = [this.#client.uuid(token), ip === undefined ? null : ipArgument(ip), extra ?? null, this.#policy.extraMaxBytes]
    return this.#gets.call(args).then((values) => this.#answered(codec, values, token) as SessionWithToken)
  }

  /**
   * Gives a session `newToken` in place of `token` (which works `grace` seconds more) and returns
   * it, with the new token; the same id, user, create, ip, extra and timeouts.
   */
  async rotate (token: string, newToken: string, grace: number): Promise<SessionWithToken> {
    const c = this.#client
    const codec = await this.#codecOf()
    const values = await callProcedure(this.#client, PROC.rotate, [c.uuid(token), c.uuid(newToken), grace])
    return this.#answered(codec, values, newToken) as SessionWithToken
  }

  /** Deletes a session by its token and returns what it was. */
  async delete (token: string): Promise<SessionWithToken> {
    const codec = await this.#codecOf()
    const values = await callProcedure(this.#client, PROC.del, [this.#client.uuid(token)])
    return this.#answered(codec, values, token) as SessionWithToken
  }

  /** Deletes a session by its id and returns what it was; token_not_found if no session has it. */
  async deleteById (id: string): Promise<Session> {
    const codec = await this.#codecOf()
    const key = codec.key(id)
    if (key === undefined) throw new ApiError('token_not_found')
    const values = await callProcedure(this.#client, PROC.delKey, [this.#client.uuid(key)])
    return this.#answered(codec, values)
  }

  /**
   * Ends every session of a user but the one named by `except` (its token or its id); returns how
   * many live sessions ended. An id that names no session protects none.
   */
  async deleteUser (userId: number, except?: { token?: string, id?: string }): Promise<{ deleted: number }> {
    const c = this.#client
    let token = null
    let key = null
    if (except?.token !== undefined) token = c.uuid(except.token)
    if (except?.id !== undefined) {
      const codec = await this.#codecOf()
      const bytes = codec.key(except.id)
      if (bytes === undefined) throw new ApiError('bad_request', 'except_id is not a session id')
      key = c.uuid(bytes)
    }
    return await this.#deleteAll((started) => [PROC.delUser, [userId, token, key, started]])
  }

  /** Ends every session whose current ip is this one; returns how many live sessions ended. */
  async deleteIp (ip: string): Promise<{ deleted: number }> {
    return await this.#deleteAll((started) => [PROC.delIp, [ip, started]])
  }

  /**
   * Calls a sign-out procedure until it is done: each call ends a bounded number of sessions, well
   * within the Tarantool timeout, and all go on from the second the first call began.
   */
  async #deleteAll (call: (started: number | null) => [string, unknown[]]): Promise<{ deleted: number }> {
    let deleted = 0
    let started: number | null = null
    for (;;) {
      const [proc, args] = call(started)
      const reply = unwrap<{ deleted: number, done: boolean, started: number }>(await callProcedure(this.#client, proc, args))
      deleted += reply.deleted
      if (reply.done) return { deleted }
      started = reply.started
    }
  }

  /** A page of a user's live sessions, newest activity first. */
  async byUser (userId: number, page: PageRequest): Promise<SessionPage> {
    return await this.#page(PROC.byUser, { kind: 'user', key: String(userId) }, userId, page)
  }

  /** A page of the live sessions whose current ip is this one, newest activity first. */
  async byIp (ip: string, page: PageRequest): Promise<SessionPage> {
    return await this.#page(PROC.byIp, { kind: 'ip', key: ip }, ip, page)
  }

  async #page (proc: string, list: ListName, key: number | string, page: PageRequest): Promise<SessionPage> {
    const c = this.#client
    const codec = await this.#codecOf()
    // The position as two arguments: the request writer encodes a uuid at the top level only.
    let after: [number, unknown] | [] = []
    if (page.after !== undefined) {
      const position = codec.position(list, page.after)
      if (position === undefined) throw new ApiError('invalid_cursor')
      after = [position.activity, c.uuid(position.key)]
    }
    const reply = unwrap<PageReply>(await callProcedure(this.#client, proc, [key, page.limit, ...after]))
    const next = reply.next === undefined
      ? null
      : codec.cursor(list, { activity: reply.next[0], key: uuidBytes(reply.next[1]) })
    const { activities, expires, ips } = reply
    return { sessions: reply.sessions.map((t, i) => this.#session(codec, t, undefined, { activity: activities[i], expires: expires[i], ip: ips[i] })), next }
  }

  /** The SessionObject a session procedure answers (see Answered); `token`: the session's, when the caller has it. */
  #answered (codec: SessionCodec, values: unknown[], token?: string): Session {
    const t = unwrap<SessionTuple>(values)
    const answered = (values as SessionReply)[2]
    if (answered == null) throw new Error('Tarantool answered a session without its activity and expiry')
    return this.#session(codec, t, token, answered)
  }

  /** The SessionObject of a tuple, with what Tarantool answered beside it. */
  #session (codec: SessionCodec, t: SessionTuple, token: string | undefined, { activity, expires, ip }: Answered): Session {
    const [key, userId, , create, , extra, , , origin] = t
    // Keys in the seed's order, then expires, the token and the id.
    const session = { ip, extra: extra ?? null, user_id: userId, create, activity, expires } as Session
    if (token !== undefined) session.token = token.toLowerCase()
    else if (this.#plain && isToken(key)) session.token = key
    // A rotated session keeps the id of its first key.
    session.id = codec.id(uuidBytes(origin ?? key))
    return session
  }

  /** The codec of ids and cursors, made from the instance's secret once it is read; the one made already, if any. */
  async #codecOf (): Promise<SessionCodec> {
    if (this.#codec !== undefined) return this.#codec
    this.#codecLoading ??= callProcedure(this.#client, PROC.secret, []).then((values) => {
      this.#codec = new SessionCodec(unwrap<string>(values))
      return this.#codec
    }).finally(() => { this.#codecLoading = undefined })
    return await this.#codecLoading
  }

  /**
   * Up to `limit` committed events after the seq `after`, oldest first, only user `userId`'s when
   * given; and the oldest seq Tarantool keeps and the newest committed.
   */
  async eventsPage (after: number, limit: number, userId?: number): Promise<EventPage> {
    const codec = await this.#codecOf()
    return this.#events(codec, await callProcedure(this.#client, PROC.eventsPage, [after, limit, userId ?? null]))
  }

  /** The same, unfiltered, once there are events after `after`: waits for them at most `seconds`. */
  async eventsWait (after: number, seconds: number): Promise<EventPage> {
    const codec = await this.#codecOf()
    return this.#events(codec, await callProcedure(this.#client, PROC.eventsWait, [after, seconds, 1000]))
  }

  #events (codec: SessionCodec, values: unknown[]): EventPage {
    const reply = unwrap<{ events: EventTuple[], ips: string[], oldest: number, newest: number }>(values)
    const events = reply.events.map(([seq, timeMs, type, userId, key, , reason], i): StoredEvent => {
      if (type === 'reset') return { seq, type, time: timeMs / 1000, reason: reason as ResetEvent['reason'] }
      const event: SessionEvent = { seq, type, id: codec.id(uuidBytes(key)), user_id: userId, time: timeMs / 1000, ip: reply.ips[i] }
      if (reason != null) event.reason = reason as RevokeReason
      return event
    })
    return { events, oldest: reply.oldest, newest: reply.newest }
  }

  /** Counters and settings in force in Tarantool. */
  async stats (): Promise<StoreStats> {
    return unwrap(await callProcedure(this.#client, PROC.stats, []))
  }
}

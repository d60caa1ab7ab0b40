import { ApiError, isErrorCode } from '../errors.js'
import type { TarantoolClient } from './tarantool-client.js'

/** The seed's SessionObject. */
export interface Session {
  ip: string
  extra: Record<string, unknown> | null
  user_id: number
  create: number
  activity: number
  token: string
}

export type Extra = Record<string, unknown>

/** What the store asks Tarantool to apply; see tarantool/sessions/settings.lua. */
export interface StoreSettings {
  ttlSeconds: number
  sweepIntervalSeconds: number
}

/** What Tarantool reports of itself. */
export interface StoreStats {
  sessions: number
  ttl: number
  sweep_interval: number
  /** Log sequence number: grows with every write to the WAL. */
  lsn: number
  version: string
  ro: boolean
  /** The expiry sweep's counters since Tarantool started (tarantool/sessions/expiry.lua). */
  expiry: {
    expired: number
    batches: number
    passes: number
    pass_seconds: number
    last_pass_seconds: number
  }
  /**
   * Marks of use: activity changes taken by /get and written later (tarantool/sessions/activity.lua).
   * Absent from a Tarantool still running the Lua of an older version.
   */
  activity?: {
    marked: number
    written: number
  }
}

type SessionTuple = [token: string, userId: number, ip: StoredIp, create: number, activity: number, extra?: Extra | null]

/** An ip as Tarantool keeps it: IPv4 as its 32-bit number (5 bytes instead of up to 16), IPv6 as text. */
type StoredIp = number | string

/** A canonical ip (see parseIp) as stored. */
function storedIp (ip: string): StoredIp {
  if (ip.includes(':')) return ip
  const [a, b, c, d] = ip.split('.').map(Number)
  return ((a * 256 + b) * 256 + c) * 256 + d
}

/** A stored ip in its canonical text form. */
function ipText (ip: StoredIp): string {
  if (typeof ip === 'string') return ip
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`
}

// The procedures registered in tarantool/sessions/api.lua.
const PROC = {
  new: 'sessions.new',
  get: 'sessions.get',
  del: 'sessions.del',
  byUser: 'sessions.by_user',
  byIp: 'sessions.by_ip',
  configure: 'sessions.configure',
  stats: 'sessions.stats'
} as const

function toSession (t: SessionTuple): Session {
  return { ip: ipText(t[2]), extra: t[5] ?? null, user_id: t[1], create: t[3], activity: t[4], token: t[0] }
}

/** Turns a procedure's `nil, {code, message}` into an ApiError; anything else unexpected is a bug. */
function unwrap<T> (values: unknown[]): T {
  const [result, failure] = values as [T | null, { code?: unknown, message?: string } | undefined]
  if (failure != null) {
    if (isErrorCode(failure.code)) throw new ApiError(failure.code, failure.message)
    throw new Error(`Tarantool returned an unknown failure: ${JSON.stringify(failure)}`)
  }
  if (result == null) throw new Error('Tarantool returned no result')
  return result
}

/** Typed access to the sessions kept in Tarantool; callers never see procedure names or tuples. */
export class SessionsStore {
  readonly #client: TarantoolClient
  readonly #extraMaxBytes: number

  /** `extraMaxBytes`: the most a session's extra may reach by merging, as JSON. */
  constructor (client: TarantoolClient, opts: { extraMaxBytes: number }) {
    this.#client = client
    this.#extraMaxBytes = opts.extraMaxBytes
  }

  /** Creates a session with a fresh token. */
  async create (token: string, userId: number, ip: string, extra: Extra | undefined): Promise<Session> {
    const c = this.#client
    const values = await c.call(PROC.new, [c.uuid(token), userId, storedIp(ip), extra ?? null])
    return toSession(unwrap<SessionTuple>(values))
  }

  /** Returns a live session, marking it used; updates its ip and merges extra when given. */
  async touch (token: string, ip: string | undefined, extra: Extra | undefined): Promise<Session> {
    const c = this.#client
    const values = await c.call(PROC.get, [c.uuid(token), ip === undefined ? null : storedIp(ip), extra ?? null, this.#extraMaxBytes])
    const session = toSession(unwrap<SessionTuple>(values))
    // The new activity, when Tarantool answers the stored tuple and it apart.
    if (typeof values[2] === 'number') session.activity = values[2]
    return session
  }

  /** Deletes a session and returns what it was. */
  async delete (token: string): Promise<Session> {
    const values = await this.#client.call(PROC.del, [this.#client.uuid(token)])
    return toSession(unwrap<SessionTuple>(values))
  }

  /** Live sessions of a user, newest activity first. */
  async byUser (userId: number): Promise<Session[]> {
    const values = await this.#client.call(PROC.byUser, [userId])
    return unwrap<SessionTuple[]>(values).map(toSession)
  }

  /** Live sessions whose current ip is this one, newest activity first. */
  async byIp (ip: string): Promise<Session[]> {
    const values = await this.#client.call(PROC.byIp, [storedIp(ip)])
    return unwrap<SessionTuple[]>(values).map(toSession)
  }

  /** Applies expiry and size settings in Tarantool (persisted there for its expiry fiber). */
  async configure (settings: StoreSettings): Promise<void> {
    await this.#client.call(PROC.configure, [{
      ttl: settings.ttlSeconds,
      sweep_interval: settings.sweepIntervalSeconds
    }])
  }

  /** Counters and settings in force in Tarantool. */
  async stats (): Promise<StoreStats> {
    return unwrap(await this.#client.call(PROC.stats, []))
  }
}

// The store's types: what it answers, what it is asked, and how it is configured.

/** The seed's SessionObject, with the session's id beside it. */
export interface Session {
  ip: string
  extra: Record<string, unknown> | null
  user_id: number
  create: number
  activity: number
  /** The Unix second from which it is gone if not used again: min(activity + ttl, create + lifetime). */
  expires: number
  /** Absent where the service does not know it: lists and /del?id= with TOKEN_STORAGE=hashed. */
  token?: string
  /** Names the session without being a secret (see session-codec.ts). */
  id: string
}

/** A session answered to a caller who holds its token: /new, /get, /del?token=. */
export type SessionWithToken = Session & { token: string }

/** One page of a list, and the cursor of the next one (null on the last). */
export interface SessionPage {
  sessions: Session[]
  next: string | null
}

/** Which page of a list: at most `limit` sessions, after the page whose cursor is `after`. */
export interface PageRequest {
  limit: number
  after?: string
}

/** How tokens are kept in Tarantool: as they are, or only their one-way hash. */
export type TokenStorage = 'plain' | 'hashed'

/** What the store applies to every call: the limits of the configuration. */
export interface StorePolicy {
  /** The most a session's extra may be, new or merged, as JSON (tarantool/sessions/json_size.lua). */
  extraMaxBytes: number
  /** With 'hashed', sessions read back without their token (lists, /del?id=) answer none. */
  tokenStorage: TokenStorage
  /** The lifetime of sessions created without their own; 0: none. */
  maxLifetimeSeconds: number
  /** The most live sessions a user may have (0: no limit), and what /new does at it. */
  maxSessionsPerUser: number
  limitPolicy: 'evict_oldest' | 'deny'
}

/** A session's own timeouts, given at its creation (seconds). */
export interface Lifetimes {
  ttl?: number
  lifetime?: number
}

export type Extra = Record<string, unknown>

/** What the store asks Tarantool to apply; see tarantool/sessions/settings.lua. */
export interface StoreSettings {
  ttlSeconds: number
  sweepIntervalSeconds: number
  tokenStorage: TokenStorage
  /** Seconds an event is kept for GET /events (EVENTS_RETENTION_SECONDS). */
  eventsRetentionSeconds?: number
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
  /** Absent from a Tarantool still running the Lua of an older version. */
  token_storage?: TokenStorage
  /** Seconds an event is kept (absent from a Tarantool still running older Lua). */
  events_retention?: number
  /** Whether plain tokens stored before TOKEN_STORAGE=hashed are still being hashed. */
  hashing_tokens?: boolean
  /** The expiry sweep's counters since Tarantool started (tarantool/sessions/expiry.lua). */
  expiry: {
    expired: number
    /** Entries the sweep looked at (absent from older Lua). */
    scanned?: number
    batches: number
    passes: number
    pass_seconds: number
    last_pass_seconds: number
  }
  /** /new's per-user limit since Tarantool started (tarantool/sessions/limits.lua); absent from older Lua. */
  limits?: {
    evicted: number
    denied: number
  }
  /** Sessions with a ttl or lifetime of their own, and keys kept after rotations; absent from older Lua. */
  deadlines?: number
  aliases?: number
  /**
   * Marks of use: activity changes taken by /get and written later (tarantool/sessions/activity.lua).
   * Absent from a Tarantool still running the Lua of an older version.
   */
  activity?: {
    marked: number
    written: number
  }
}

/** Why a session ended, in a `revoked` event. */
export type RevokeReason = 'deleted' | 'signed_out' | 'ip_signed_out' | 'evicted' | 'expired'

/** What happened to a session (GET /events): never its token. */
export interface SessionEvent {
  /** The event's id: increasing, the same for every service process on one Tarantool or replica set. */
  seq: number
  type: 'created' | 'revoked' | 'rotated' | 'updated'
  /** The session's id, as SessionObject.id. */
  id: string
  user_id: number
  /** When, in Unix seconds to the millisecond. */
  time: number
  /** The session's ip after the change. */
  ip: string
  /** On `revoked` only. */
  reason?: RevokeReason
}

/**
 * Not about one session: the ids of sessions changed (TOKEN_STORAGE=hashed moved them to their
 * hashed keys, of which their ids are made), so whatever was cached of any must go.
 */
export interface ResetEvent {
  seq: number
  type: 'reset'
  time: number
  reason: 'tokens_hashed'
}

/** What GET /events gives, in order. */
export type StoredEvent = SessionEvent | ResetEvent

/** A page of events, and what Tarantool keeps: the oldest seq kept and the newest committed. */
export interface EventPage {
  events: StoredEvent[]
  oldest: number
  newest: number
}

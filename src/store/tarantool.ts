// What the service needs of Tarantool, whichever client serves it: TarantoolClient (one instance)
// or ReplicaSetClient (a replica set).
import type { EventEmitter } from 'node:events'

/** Where a client stands with Tarantool. */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'auth_failed' | 'closed'

/** How a call may be made. */
export interface CallOptions {
  /**
   * Whether the call may be sent again when its outcome is unknown (its connection dropped after it
   * was sent): a second run must leave things as one does and answer the same.
   */
  idempotent?: boolean
}

/** A member as the service sees it, for /ready and /metrics. */
export interface MemberState {
  address: string
  connection: ConnectionState
  /** From its last report; undefined until it answers one. */
  ro?: boolean
  status?: string
  leader: boolean
  /** The largest replication lag it reports from another member, in seconds. */
  lag?: number
  /** ms since its last report. */
  reportAgeMs?: number
}

/**
 * What the store and plugins need of Tarantool: a replica set (ReplicaSetClient), or one instance
 * (TarantoolClient), which is a set of one: its only member, the leader while connected. Events:
 * 'connect' (a leader found: a new connection, or another member that took over), 'disconnect'
 * (Error), 'auth_failed' (Error), 'loading' (Error; and the member's address, from a
 * ReplicaSetClient), 'leader' (address or undefined) on each change, 'split' (addresses: more than
 * one member writable, from a ReplicaSetClient), 'call' (procedure name, seconds, CallOutcome).
 */
export interface Tarantool extends EventEmitter {
  readonly state: ConnectionState
  readonly lastError: Error | undefined
  /** The writable member's address, the one the calls go to, if there is one. */
  readonly leader: string | undefined
  /** Every member as last seen. */
  members: () => MemberState[]
  call: (name: string, args: unknown[], opts?: CallOptions) => Promise<unknown[]>
  uuid: (value: string | Uint8Array) => unknown
  waitConnected: (timeoutMs: number) => Promise<void>
  close: () => void
}

/**
 * How a call ended: answered, failed as storage_unavailable (503), not sent because too many calls
 * wait on Tarantool already (503 too), or failed otherwise.
 */
export type CallOutcome = 'ok' | 'unavailable' | 'shed' | 'error'

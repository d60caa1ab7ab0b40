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

/**
 * What the store and plugins need of Tarantool: one instance (TarantoolClient) or a replica set
 * (ReplicaSetClient). Events: 'connect', 'disconnect' (Error), 'auth_failed' (Error), 'loading'
 * (Error; and the member's address, from a ReplicaSetClient), 'call' (procedure name, seconds,
 * CallOutcome).
 */
export interface Tarantool extends EventEmitter {
  readonly state: ConnectionState
  readonly lastError: Error | undefined
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

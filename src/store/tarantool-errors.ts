// Tarantool's errors told apart by their IPROTO error code (errcode.h; `box.error.<NAME>` in Lua),
// never by their text, which changes between versions; and the errors our clients raise.

/** Tarantool error codes the service handles on purpose. */
export const ER = {
  MEMORY_ISSUE: 2,
  READONLY: 7,
  NO_SUCH_PROC: 33,
  WAL_IO: 40,
  ACCESS_DENIED: 42,
  LOADING: 116,
  BOOTSTRAP_READONLY: 203,
  UNCOMMITTED_FOREIGN_SYNC_TXNS: 214,
  SYNC_QUORUM_TIMEOUT: 216,
  SYNC_ROLLBACK: 217,
  QUORUM_WAIT: 222,
  SYNC_QUEUE_UNCLAIMED: 227,
  SYNC_QUEUE_FOREIGN: 228
} as const

/**
 * What an error answer says of the call: `refused` ones were not applied (raised before anything
 * was written: read-only, still loading, no synchronous queue owner, out of memory) and may be sent
 * elsewhere or again; `unknown` ones (a synchronous write whose quorum did not come in time) may
 * still be applied by the replica set; `failed` is any other error, a bug on one side.
 */
export type ErrorKind = 'refused' | 'unknown' | 'failed'

const KINDS = new Map<number, { kind: ErrorKind, why: string }>([
  [ER.MEMORY_ISSUE, { kind: 'refused', why: 'out of memory' }],
  [ER.READONLY, { kind: 'refused', why: 'read-only' }],
  [ER.LOADING, { kind: 'refused', why: 'still loading' }],
  [ER.BOOTSTRAP_READONLY, { kind: 'refused', why: 'read-only while bootstrapping' }],
  [ER.UNCOMMITTED_FOREIGN_SYNC_TXNS, { kind: 'refused', why: 'waiting for the previous leader\'s synchronous transactions' }],
  [ER.QUORUM_WAIT, { kind: 'refused', why: 'waiting for a quorum to take over' }],
  [ER.SYNC_QUEUE_UNCLAIMED, { kind: 'refused', why: 'without a leader for synchronous writes' }],
  [ER.SYNC_QUEUE_FOREIGN, { kind: 'refused', why: 'not the leader for synchronous writes' }],
  [ER.SYNC_QUORUM_TIMEOUT, { kind: 'unknown', why: 'without a quorum in time' }],
  // Also what the transactions queued behind a rolled-back synchronous one get.
  [ER.WAL_IO, { kind: 'unknown', why: 'failing to write its log' }],
  [ER.SYNC_ROLLBACK, { kind: 'unknown', why: 'rolling back synchronous writes' }]
])

/** What an error answer with this code means, and a few words on why, for messages. */
export function errorKind (code: number | undefined): { kind: ErrorKind, why: string } {
  return (code === undefined ? undefined : KINDS.get(code)) ?? { kind: 'failed', why: 'failing' }
}

/**
 * Tarantool could not be reached, did not answer in time, or refused the call for now (read-only,
 * out of memory, no quorum): worth retrying later. `applied`: 'no' when the call surely did not
 * run (never sent, or refused before any write), 'unknown' when it may have (sent, then the
 * connection or the deadline went; a synchronous write without its quorum in time).
 */
export class StorageUnavailableError extends Error {
  readonly applied: 'no' | 'unknown'
  /** Tarantool's error code, when Tarantool answered one. */
  readonly tarantoolCode?: number

  constructor (message: string, applied: 'no' | 'unknown' = 'unknown', tarantoolCode?: number) {
    super(message)
    this.name = 'StorageUnavailableError'
    this.applied = applied
    this.tarantoolCode = tarantoolCode
  }
}

/** Tarantool refused the credentials: retrying will not help. */
export class StorageAuthError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'StorageAuthError'
  }
}

/** Tarantool answered with an error: a bug on one side or the other. */
export class StorageError extends Error {
  readonly tarantoolCode?: number

  constructor (message: string, tarantoolCode?: number) {
    super(message)
    this.name = 'StorageError'
    this.tarantoolCode = tarantoolCode
  }
}

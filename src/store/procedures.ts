// How the store calls the procedures of tarantool/sessions/api.lua: their names, whether each may
// be sent again, and how their answers are read.
import { ApiError, isErrorCode } from '../api/errors.js'
import type { Tarantool } from './tarantool.js'

/** The procedures by name, as api.lua registers them. */
export const PROC = {
  new: 'sessions.new',
  newMany: 'sessions.new_many',
  get: 'sessions.get',
  getMany: 'sessions.get_many',
  del: 'sessions.del',
  byUser: 'sessions.by_user',
  byIp: 'sessions.by_ip',
  delKey: 'sessions.del_key',
  delUser: 'sessions.del_user',
  delIp: 'sessions.del_ip',
  rotate: 'sessions.rotate',
  secret: 'sessions.secret',
  configure: 'sessions.configure',
  stats: 'sessions.stats',
  eventsPage: 'sessions.events_page',
  eventsWait: 'sessions.events_wait'
} as const

/**
 * The procedures that may be sent again when their outcome is unknown (a replica set's leader lost
 * mid-call): a second run leaves things as one does and answers the same. /new is, by its token
 * (chosen here, before the call); /rotate is, by its new token; reads are. /del is not (a second run
 * answers token_not_found for a session the first ended), nor are the sign-outs (their count).
 */
const IDEMPOTENT = new Set<string>([PROC.new, PROC.newMany, PROC.get, PROC.getMany, PROC.rotate, PROC.byUser, PROC.byIp, PROC.secret, PROC.configure, PROC.stats, PROC.eventsPage, PROC.eventsWait])
const REPEATABLE = { idempotent: true } as const
const UNREPEATABLE = { idempotent: false } as const

/** Calls a procedure, saying whether it may be sent again (IDEMPOTENT). */
export function callProcedure (client: Tarantool, proc: string, args: unknown[]): Promise<unknown[]> {
  return client.call(proc, args, IDEMPOTENT.has(proc) ? REPEATABLE : UNREPEATABLE)
}

/** Turns a procedure's `nil, {code, message}` into an ApiError; anything else unexpected is a bug. */
export function unwrap<T> (values: unknown[]): T {
  const [result, failure] = values as [T | null, { code?: unknown, message?: string } | undefined]
  if (failure != null) {
    if (isErrorCode(failure.code)) throw new ApiError(failure.code, failure.message)
    throw new Error(`Tarantool returned an unknown failure: ${JSON.stringify(failure)}`)
  }
  if (result == null) throw new Error('Tarantool returned no result')
  return result
}

import { ApiError } from './errors.js'
import type { Extra } from '../store/types.js'

/**
 * A request body that cannot be extra data (not JSON, or of another type). Parsed bodies carry it
 * as a value, so that only the routes that read extra data (/new, /get) turn it into an error.
 */
export class UnusableBody {
  readonly error: ApiError
  constructor (error: ApiError) { this.error = error }
}

/** Deepest nesting of objects and arrays in extra data (Tarantool's MessagePack allows 128). */
export const EXTRA_MAX_DEPTH = 32

function deeperThan (value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (depth === 0) return true
  for (const item of Object.values(value)) {
    if (deeperThan(item, depth - 1)) return true
  }
  return false
}

/**
 * The extra data carried by a request body, checked: a plain object nested at most
 * EXTRA_MAX_DEPTH deep. `undefined` when the request has no body (see src/plugins/body.ts). Its size
 * (EXTRA_MAX_BYTES) is checked by Tarantool, which measures a new extra and a merged one alike
 * (tarantool/sessions/json_size.lua).
 */
export function extraFrom (body: unknown): Extra | undefined {
  if (body === undefined) return undefined
  if (body instanceof UnusableBody) throw body.error
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('invalid_extra', 'Extra data must be an object')
  }
  // JSON bodies with it are refused by the parser; a form could still name a key so.
  if (Object.hasOwn(body, '__proto__')) {
    throw new ApiError('invalid_extra', 'Extra data may not have a __proto__ key')
  }
  if (deeperThan(body, EXTRA_MAX_DEPTH)) {
    throw new ApiError('invalid_extra', `Extra data may be nested at most ${EXTRA_MAX_DEPTH} levels deep`)
  }
  // Form bodies come as null-prototype objects; give every caller an ordinary one.
  return { ...body }
}

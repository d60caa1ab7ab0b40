import { isIPv4, isIPv6 } from 'node:net'
import ipaddr from 'ipaddr.js'
import { ApiError, type ErrorCode } from './errors.js'

/** Which error a malformed query parameter is reported as: by its name, or by `<route> <name>` first. */
export const PARAM_ERRORS: Record<string, ErrorCode> = {
  '/del id': 'token_not_found',
  '/del_user except_id': 'bad_request',
  '/events after': 'invalid_event_id',
  '/events limit': 'invalid_limit',
  last_event_id: 'invalid_event_id',
  user_id: 'invalid_user_id',
  id: 'invalid_user_id',
  ip: 'invalid_ip',
  token: 'token_not_found',
  except: 'bad_request',
  limit: 'invalid_limit',
  after: 'invalid_cursor',
  ttl: 'invalid_ttl',
  lifetime: 'invalid_lifetime',
  grace: 'invalid_grace'
}

const TOKEN_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$'

/** Query schemas of the parameters, shared by the routes (shape only; parse* below decide). */
export const PARAM_SCHEMAS = {
  user_id: { type: 'string', pattern: '^[0-9]+$', maxLength: 32, description: 'User id: decimal digits, 0 to 2^53-1' },
  ip: { type: 'string', minLength: 2, maxLength: 64, description: 'IPv4 dotted quad or IPv6 address' },
  token: {
    type: 'string',
    pattern: TOKEN_PATTERN,
    description: 'Session token (UUID v4)'
  },
  except: {
    type: 'string',
    pattern: TOKEN_PATTERN,
    description: 'Token of the session to keep (UUID v4)'
  },
  session_id: { type: 'string', description: 'Session id, as SessionObject.id' },
  limit: { type: 'string', pattern: '^[0-9]+$', maxLength: 4, description: 'Most sessions in the page: 1 to 1000 (default LIST_LIMIT)' },
  after: { type: 'string', maxLength: 64, description: 'The `next` cursor of the previous page' },
  ttl: { type: 'string', pattern: '^[0-9]+$', maxLength: 9, description: 'Seconds of idleness after which the session is gone: 1 to 315360000 (default SESSION_TTL_SECONDS)' },
  lifetime: { type: 'string', pattern: '^[0-9]+$', maxLength: 9, description: 'Seconds after its creation after which the session is gone however used: 1 to 315360000 (default MAX_LIFETIME_SECONDS)' },
  grace: { type: 'string', pattern: '^[0-9]+$', maxLength: 2, description: 'Seconds the old token keeps working: 0 to 60 (default 0)' },
  event_id: { type: 'string', pattern: '^[0-9]+$', maxLength: 16, description: 'An event id (its `seq`): 0 to 2^53-1' }
} as const

const DIGITS = /^[0-9]+$/

/** A user id written in decimal digits, 0 to 2^53-1; anything else is invalid_user_id. */
export function parseUserId (value: unknown): number {
  if (typeof value !== 'string' || !DIGITS.test(value)) throw new ApiError('invalid_user_id')
  const id = Number(value)
  if (!Number.isSafeInteger(id)) throw new ApiError('invalid_user_id')
  return id
}

/** A page size from 1 to 1000; anything else is invalid_limit. */
export function parseLimit (value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const limit = DIGITS.test(value) ? Number(value) : NaN
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ApiError('invalid_limit')
  return limit
}

/** An event id (a seq) in decimal digits, 0 to 2^53-1, or undefined when not given. */
export function parseEventId (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const seq = DIGITS.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(seq)) throw new ApiError('invalid_event_id')
  return seq
}

/** The longest ttl or lifetime a session may have: ten years. */
export const MAX_SESSION_SECONDS = 315360000

/** Seconds written in decimal digits from `min` to `max`, or undefined when not given; anything else is `code`. */
export function parseSeconds (value: string | undefined, min: number, max: number, code: ErrorCode): number | undefined {
  if (value === undefined) return undefined
  const seconds = DIGITS.test(value) ? Number(value) : NaN
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) throw new ApiError(code)
  return seconds
}

// The embedded dotted quad of an IPv6 address (`::1.2.3.4`, `::ffff:1.2.3.4`) as its two groups
// of hex: ipaddr.js reads any `::a.b.c.d` as IPv4-mapped, which only `::ffff:0:0/96` is (RFC 4291).
function hexGroups (value: string): string {
  const colon = value.lastIndexOf(':')
  const quad = value.slice(colon + 1)
  if (!quad.includes('.')) return value
  const [a, b, c, d] = quad.split('.').map(Number)
  return `${value.slice(0, colon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
}

/**
 * An IPv4 dotted quad or an IPv6 address, returned in canonical form: RFC 5952 for IPv6, whatever
 * its notation (`::1.2.3.4` and `::102:304` are one address, stored one way); an IPv4-mapped
 * address (`::ffff:0:0/96` only) becomes the IPv4 address it maps. Anything else is invalid_ip.
 */
export function parseIp (value: unknown): string {
  if (typeof value !== 'string') throw new ApiError('invalid_ip')
  // node:net rejects leading zeros and short forms like 127.1, which ipaddr.js would accept.
  if (isIPv4(value)) return value
  if (!isIPv6(value) || value.includes('%')) throw new ApiError('invalid_ip')
  const address = ipaddr.IPv6.parse(hexGroups(value))
  return address.isIPv4MappedAddress()
    ? address.toIPv4Address().toString()
    : address.toRFC5952String()
}

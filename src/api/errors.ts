/** The API's error codes, their HTTP status and default message: defined once. */
export const ERRORS = {
  invalid_user_id: { status: 400, message: 'The user id must be an integer from 0 to 9007199254740991' },
  invalid_ip: { status: 400, message: 'ip must be an IPv4 or IPv6 address' },
  invalid_extra: { status: 400, message: 'Extra data must be a JSON object or a form body' },
  invalid_limit: { status: 400, message: 'limit must be an integer from 1 to 1000' },
  invalid_cursor: { status: 400, message: 'after must be the next cursor of a page of this same list' },
  invalid_ttl: { status: 400, message: 'ttl must be an integer from 1 to 315360000 (seconds)' },
  invalid_lifetime: { status: 400, message: 'lifetime must be an integer from 1 to 315360000 (seconds)' },
  invalid_grace: { status: 400, message: 'grace must be an integer from 0 to 60 (seconds)' },
  invalid_event_id: { status: 400, message: 'after and Last-Event-ID must be an event id: an integer from 0 to 9007199254740991' },
  unauthorized: { status: 401, message: 'Send the API key as Authorization: Bearer <key>' },
  token_not_found: { status: 404, message: 'Session not found' },
  not_found: { status: 404, message: 'Not found' },
  request_timeout: { status: 408, message: 'The request took too long to arrive' },
  too_many_sessions: { status: 409, message: 'The user has as many sessions as MAX_SESSIONS_PER_USER allows' },
  payload_too_large: { status: 413, message: 'Extra data is too large' },
  headers_too_large: { status: 431, message: 'The request line and headers are too large' },
  unsupported_media_type: {
    status: 415,
    message: 'Send extra data as application/x-www-form-urlencoded or application/json'
  },
  bad_request: { status: 400, message: 'Malformed request' },
  internal_error: { status: 500, message: 'Internal error' },
  storage_unavailable: { status: 503, message: 'Session storage is unavailable, try again' }
} as const

export type ErrorCode = keyof typeof ERRORS

/** An expected failure of a request: rendered as `{status:'error', code, message}`. */
export class ApiError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number

  constructor (code: ErrorCode, message: string = ERRORS[code].message) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.statusCode = ERRORS[code].status
  }
}

/** Whether a string is one of the API's error codes. */
export function isErrorCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
}

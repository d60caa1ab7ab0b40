/** The error codes the service answers with (its `{status:'error', code, message}` envelope). */
export const API_ERROR_CODES = [
  'invalid_user_id', 'invalid_ip', 'invalid_extra', 'invalid_limit', 'invalid_cursor', 'invalid_ttl',
  'invalid_lifetime', 'invalid_grace', 'invalid_event_id', 'unauthorized', 'token_not_found', 'not_found', 'request_timeout',
  'too_many_sessions', 'payload_too_large', 'headers_too_large', 'unsupported_media_type', 'bad_request',
  'internal_error', 'storage_unavailable'
] as const

/**
 * The client's own codes, for failures without an envelope:
 * - `network_error`: no answer (connection refused or reset, name not resolved...); `cause` says which;
 * - `timeout`: no whole answer within the call's timeout;
 * - `bad_response`: an answer that is not the service's envelope (a proxy's error page, say).
 */
export const CLIENT_ERROR_CODES = ['network_error', 'timeout', 'bad_response'] as const

export type ApiErrorCode = (typeof API_ERROR_CODES)[number]
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number]
/** A known code; a newer service may answer others, hence the open string. */
export type SessionsErrorCode = ApiErrorCode | ClientErrorCode | (string & {})

/** A failed call: the service's error envelope, or the client's own code when there was none. */
export class SessionsError extends Error {
  readonly code: SessionsErrorCode
  /** The HTTP status of the answer; 0 when there was none (network_error, timeout). */
  readonly status: number
  /** Requests sent for this call, retries included. */
  readonly attempts: number

  constructor (code: SessionsErrorCode, status: number, message: string, opts: { attempts?: number, cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'SessionsError'
    this.code = code
    this.status = status
    this.attempts = opts.attempts ?? 1
  }
}

export {
  SessionsClient, type CallOptions, type CreateOptions, type DeleteUserOptions, type EventPage, type EventsOptions, type Extra, type FetchLike,
  type GetOptions, type ListOptions, type ReadyState, type ReplicaMember, type Session, type SessionEvent, type SessionPage,
  type SessionsClientOptions, type SessionWithToken
} from './client.js'
export type { CacheOptions, CacheStats } from './cache.js'
export { API_ERROR_CODES, CLIENT_ERROR_CODES, SessionsError, type ApiErrorCode, type ClientErrorCode, type SessionsErrorCode } from './errors.js'
export { ENDPOINTS, SESSION_FIELDS, type Endpoint, type EndpointName, type ReplyKind, type RetryPolicy } from './endpoints.js'
export {
  clearSessionCookie, cookieOptions, DEFAULT_COOKIE, maxAgeOf, sessionCookie, setSessionCookie,
  type CookieOptions, type CookieTarget, type SessionCookieOptions
} from './cookie.js'
export { tokenFrom, type SessionMiddlewareOptions } from './middleware.js'

/**
 * When a call may be sent again after a failure:
 * - `always`: on a 503 and on any connection failure or timeout (repeating it changes nothing more);
 * - `unsent`: only when the request surely never reached the service (the connection was refused,
 *   the name did not resolve), because the service would apply a second copy as a new change.
 */
export type RetryPolicy = 'always' | 'unsent'

/** What the success envelope's `data` holds. */
export type ReplyKind = 'session' | 'page' | 'deleted' | 'ready' | 'events'

/** How a client method calls the service: the one place the client spells paths and parameter names. */
export interface Endpoint {
  path: string
  /** The query parameters the method may send, by their names in the API. */
  query: readonly string[]
  /** Whether the method may send extra data as a JSON body (then it is a POST). */
  body: boolean
  /** The HTTP method when there is no body. Writes are POSTs, so that no proxy retries or caches them. */
  method: 'GET' | 'POST'
  reply: ReplyKind
  retry: RetryPolicy
}

/**
 * Every method of SessionsClient and the request it makes. Exported as data so that a test can
 * compare it with the service's OpenAPI document: the client and the API cannot drift apart unseen.
 */
export const ENDPOINTS = {
  create: { path: '/new', query: ['user_id', 'ip', 'ttl', 'lifetime'], body: true, method: 'POST', reply: 'session', retry: 'unsent' },
  get: { path: '/get', query: ['token', 'ip'], body: true, method: 'GET', reply: 'session', retry: 'always' },
  delete: { path: '/del', query: ['token'], body: false, method: 'POST', reply: 'session', retry: 'always' },
  deleteById: { path: '/del', query: ['id'], body: false, method: 'POST', reply: 'session', retry: 'always' },
  user: { path: '/user', query: ['id', 'limit', 'after'], body: false, method: 'GET', reply: 'page', retry: 'always' },
  ip: { path: '/ip', query: ['ip', 'limit', 'after'], body: false, method: 'GET', reply: 'page', retry: 'always' },
  deleteUser: { path: '/del_user', query: ['id', 'except', 'except_id'], body: false, method: 'POST', reply: 'deleted', retry: 'always' },
  deleteIp: { path: '/del_ip', query: ['ip'], body: false, method: 'POST', reply: 'deleted', retry: 'always' },
  rotate: { path: '/rotate', query: ['token', 'grace'], body: false, method: 'POST', reply: 'session', retry: 'unsent' },
  ready: { path: '/ready', query: [], body: false, method: 'GET', reply: 'ready', retry: 'always' },
  // The JSON form of GET /events; the stream (event-stream.ts) is the cache's, not a method.
  events: { path: '/events', query: ['after', 'limit', 'user_id'], body: false, method: 'GET', reply: 'events', retry: 'always' }
} as const satisfies Record<string, Endpoint>

export type EndpointName = keyof typeof ENDPOINTS

/** The query parameters of an endpoint, by their API names; undefined ones are not sent. */
export type QueryOf<N extends EndpointName> = Partial<Record<(typeof ENDPOINTS)[N]['query'][number], string | number>>

/** The fields of a SessionObject, as the API documents them (checked against the OpenAPI document). */
export const SESSION_FIELDS = ['ip', 'extra', 'user_id', 'create', 'activity', 'token', 'id', 'expires'] as const

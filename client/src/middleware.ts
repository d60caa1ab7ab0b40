// What the Fastify plugin and the Express middleware share: where a request's token is, and what
// to do with the answer of /get.
import type { SessionsClient, SessionWithToken } from './client.js'
import { DEFAULT_COOKIE } from './cookie.js'
import { SessionsError } from './errors.js'

export interface SessionMiddlewareOptions<Request> {
  client: SessionsClient
  /** The cookie that holds the token (default `session`); false: no cookie. */
  cookie?: string | false
  /** Whether an `Authorization: Bearer <token>` header holds it (default true); it wins over the cookie. */
  bearer?: boolean
  /** Requests without a live session go on with `session` null instead of a 401 (default false). */
  optional?: boolean
  /** The user's address, to record as the session's current one (for example the framework's `request.ip`). */
  ip?: (request: Request) => string | undefined
}

/** The headers the token is read from. */
export interface TokenHeaders {
  cookie?: string
  authorization?: string
}

/** The error envelope of the service, as the middleware answers it. */
export interface ErrorEnvelope {
  status: 'error'
  code: string
  message: string
}

/**
 * What to do with a request: go on with its session (null: none, and the options allow it),
 * answer at once (401 without a live session, 503 while the sessions service cannot tell), or
 * fail it as any handler error (the service refused the call: a wrong API key, a bug).
 */
export type Verdict =
  | { session: SessionWithToken | null }
  | { status: 401 | 503, headers: Record<string, string>, body: ErrorEnvelope }
  | { error: Error }

const BEARER = /^Bearer[ \t]+([!-~]+)[ \t]*$/i

function cookieValue (header: string, name: string): string | undefined {
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=')
    if (at < 0 || pair.slice(0, at).trim() !== name) continue
    const raw = pair.slice(at + 1).trim().replace(/^"(.*)"$/, '$1')
    try {
      return decodeURIComponent(raw)
    } catch {
      return raw
    }
  }
  return undefined
}

/** The token a request carries: in its Bearer header, else in its cookie. */
export function tokenFrom (headers: TokenHeaders, opts: Pick<SessionMiddlewareOptions<unknown>, 'cookie' | 'bearer'> = {}): string | undefined {
  if (opts.bearer !== false) {
    const bearer = BEARER.exec(headers.authorization ?? '')?.[1]
    if (bearer !== undefined) return bearer
  }
  const name = opts.cookie ?? DEFAULT_COOKIE
  if (name === false || headers.cookie === undefined) return undefined
  const value = cookieValue(headers.cookie, name)
  return value === '' ? undefined : value
}

function anonymous (optional: boolean | undefined, message: string): Verdict {
  if (optional === true) return { session: null }
  return {
    status: 401,
    headers: { 'www-authenticate': 'Bearer' },
    body: { status: 'error', code: 'token_not_found', message }
  }
}

/** Whether a failed /get says only that the sessions service cannot answer now. */
function unavailable (err: SessionsError): boolean {
  return err.status === 503 || err.code === 'network_error' || err.code === 'timeout'
}

const MAPPED_IPV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i

/**
 * Whether the session's ip (the service's canonical form) is this address already. Only the forms
 * Node gives a socket's address in are followed (an IPv4-mapped IPv6 is its IPv4, hex in lower
 * case); another spelling of the same address only costs a /get that writes it again.
 */
function sameIp (stored: string, ip: string): boolean {
  return stored === (MAPPED_IPV4.exec(ip)?.[1] ?? ip.toLowerCase())
}

/**
 * The session of a token. With a caching client, asked without the ip first (which memory may
 * answer), and asked again with it only when it is not the session's current one: a /get with an
 * ip writes, so it is never answered from memory.
 */
async function lookUp (client: SessionsClient, token: string, ip: string | undefined): Promise<SessionWithToken> {
  if (ip === undefined || !client.caching) return await client.get(token, { ip })
  const session = await client.get(token)
  return sameIp(session.ip, ip) ? session : await client.get(token, { ip })
}

/** Looks the request's token up and says what to do with the request. */
export async function authenticate (headers: TokenHeaders, ip: string | undefined, opts: Omit<SessionMiddlewareOptions<unknown>, 'ip'>): Promise<Verdict> {
  const token = tokenFrom(headers, opts)
  if (token === undefined) return anonymous(opts.optional, 'No session token')
  try {
    return { session: await lookUp(opts.client, token, ip) }
  } catch (err) {
    if (!(err instanceof SessionsError)) return { error: err as Error }
    if (err.code === 'token_not_found') return anonymous(opts.optional, 'Session not found')
    if (unavailable(err)) {
      return {
        status: 503,
        headers: {},
        body: { status: 'error', code: 'storage_unavailable', message: 'Session storage is unavailable, try again' }
      }
    }
    // Not the framework's to answer with its status (a 400 or 401 here is the server's fault).
    return { error: new Error(`The sessions service refused /get: ${err.code}: ${err.message}`, { cause: err }) }
  }
}

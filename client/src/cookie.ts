/** The session cookie's name when none is given, here and in the middleware. */
export const DEFAULT_COOKIE = 'session'

export interface CookieOptions {
  /** Default `session`. */
  name?: string
  /** Default true: the cookie goes over HTTPS only (browsers make an exception for http://localhost). */
  secure?: boolean
  /** Default true: page scripts cannot read it. */
  httpOnly?: boolean
  /** Default `Lax`. `None` needs `secure`. */
  sameSite?: 'Strict' | 'Lax' | 'None'
  /** Default `/`. */
  path?: string
  domain?: string
}

/** A cookie's attributes: `maxAge` in seconds (as @fastify/cookie's `setCookie` takes it; Express's `res.cookie` takes milliseconds). */
export interface SessionCookieOptions {
  maxAge: number
  httpOnly: boolean
  secure: boolean
  sameSite: 'Strict' | 'Lax' | 'None'
  path: string
  domain?: string
}

/** Somewhere to add a Set-Cookie header: Node's ServerResponse (so Express's too) or a Fastify reply. */
export type CookieTarget =
  | { setHeader: (name: string, value: string[]) => unknown, getHeader: (name: string) => unknown }
  | { header: (name: string, value: string) => unknown }

/** Seconds from now until the session's `expires`: whole seconds, rounded down, never negative. */
export function maxAgeOf (session: { expires: number }): number {
  return Math.max(0, Math.floor(session.expires - Date.now() / 1000))
}

/** The attributes of a session's cookie, its Max-Age computed from the session's `expires`. */
export function cookieOptions (session: { expires: number }, opts: CookieOptions = {}): SessionCookieOptions {
  return {
    maxAge: maxAgeOf(session),
    httpOnly: opts.httpOnly ?? true,
    secure: opts.secure ?? true,
    sameSite: opts.sameSite ?? 'Lax',
    path: opts.path ?? '/',
    ...(opts.domain === undefined ? {} : { domain: opts.domain })
  }
}

function serialize (name: string, value: string, attrs: SessionCookieOptions): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Max-Age=${attrs.maxAge}`,
    ...(attrs.domain === undefined ? [] : [`Domain=${attrs.domain}`]),
    `Path=${attrs.path}`,
    ...(attrs.httpOnly ? ['HttpOnly'] : []),
    ...(attrs.secure ? ['Secure'] : []),
    `SameSite=${attrs.sameSite}`
  ].join('; ')
}

/** The Set-Cookie header value that gives the browser this session's token until it expires. */
export function sessionCookie (session: { token: string, expires: number }, opts: CookieOptions = {}): string {
  return serialize(opts.name ?? DEFAULT_COOKIE, session.token, cookieOptions(session, opts))
}

function addSetCookie (res: CookieTarget, value: string): void {
  if ('setHeader' in res) {
    // Keeps the cookies set before this one.
    const before = res.getHeader('set-cookie') as string | number | string[] | undefined
    res.setHeader('set-cookie', [...(before === undefined ? [] : Array.isArray(before) ? before.map(String) : [String(before)]), value])
  } else {
    // A Fastify reply adds Set-Cookie headers to those set before.
    res.header('set-cookie', value)
  }
}

/** Adds the session's cookie to a response (see sessionCookie). */
export function setSessionCookie (res: CookieTarget, session: { token: string, expires: number }, opts: CookieOptions = {}): void {
  addSetCookie(res, sessionCookie(session, opts))
}

/** Adds a Set-Cookie header that removes the session cookie (at sign-out). */
export function clearSessionCookie (res: CookieTarget, opts: CookieOptions = {}): void {
  addSetCookie(res, serialize(opts.name ?? DEFAULT_COOKIE, '', cookieOptions({ expires: 0 }, opts)))
}

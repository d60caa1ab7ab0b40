// Compiled where only the packed sessions-client is installed: its declarations resolve through
// the package's exports, and they are real types (an unused @ts-expect-error fails the compile).
import { SessionsClient, SessionsError, type CacheStats, type Session, type SessionPage, type SessionWithToken } from 'sessions-client'
import { sessionsMiddleware, type RequestWithSession } from 'sessions-client/express'

const client = new SessionsClient({ baseUrl: 'http://127.0.0.1:8080', timeoutMs: 1000, retries: 1 })
export const created: Promise<SessionWithToken> = client.create(1, '127.0.0.1', { device: 'phone' }, { ttl: 60 })
export const page: Promise<SessionPage> = client.user(1, { limit: 10 })
export const ended: Promise<number> = client.deleteUser(1, { exceptId: 'oyP5Cm3kQ0mqY4bJ8ZbHcw' })
export const listed: AsyncIterable<Session> = client.eachAtIp('127.0.0.1')
// @ts-expect-error: the API has no such option
export const wrong = client.user(1, { page: 2 })
export const status: number = new SessionsError('timeout', 0, 'No answer').status
export const middleware = sessionsMiddleware({ client, optional: true })
export const user = (req: RequestWithSession): number | undefined => req.session?.user_id
const caching = new SessionsClient({ baseUrl: 'http://127.0.0.1:8080', cache: { ttlMs: 5000, max: 10_000 } })
export const stats: CacheStats | undefined = caching.cacheStats()
export const closed: Promise<void> = caching.close()

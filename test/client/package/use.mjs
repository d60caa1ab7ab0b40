// Runs where only the packed sessions-client is installed: node use.mjs <baseUrl> <userId>.
// Prints what it saw as one JSON line.
import { ENDPOINTS, sessionCookie, SessionsClient, SessionsError } from 'sessions-client'
import { sessionsMiddleware } from 'sessions-client/express'
import { sessionsPlugin } from 'sessions-client/fastify'

const [baseUrl, userId] = process.argv.slice(2)
const client = new SessionsClient({ baseUrl })
const created = await client.create(Number(userId), '192.0.2.1', { from: 'package' })
const got = await client.get(created.token)
const listed = []
for await (const session of client.eachOfUser(Number(userId), { limit: 1 })) listed.push(session.id)
let code
try {
  await client.get('00000000-0000-4000-8000-000000000000')
} catch (err) {
  code = err instanceof SessionsError ? err.code : String(err)
}
const caching = new SessionsClient({ baseUrl, cache: { ttlMs: 5000, max: 10 } })
while (!caching.cacheStats().streamConnected) await new Promise((resolve) => setTimeout(resolve, 10))
await caching.get(created.token)
await caching.get(created.token)
const hits = caching.cacheStats().hits
await caching.close()
await client.delete(created.token)
console.log(JSON.stringify({
  same: got.id === created.id,
  extra: got.extra,
  listed: listed.length,
  code,
  cookie: sessionCookie(created).startsWith(`session=${created.token}; Max-Age=`),
  middleware: typeof sessionsMiddleware,
  plugin: typeof sessionsPlugin,
  endpoints: Object.keys(ENDPOINTS).length,
  hits
}))

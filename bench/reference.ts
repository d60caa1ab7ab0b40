// The reference: a bare Fastify server with no storage, answering each route with a canned JSON
// object of the size the service answers it (read from the file named by REFERENCE_BODIES).
// It is the ceiling any Fastify service can reach on this machine.
// A body's key is its URL path (`/user`), or its path and a page size (`/user?limit=100`): the
// answer to requests of that path with that `limit`; all other queries are ignored.
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const bodies = JSON.parse(readFileSync(process.env.REFERENCE_BODIES!, 'utf8')) as Record<string, unknown>
const routes = new Map<string, { body: unknown, byLimit: Map<string, unknown> }>()
for (const [key, body] of Object.entries(bodies)) {
  const [path, query] = key.split('?')
  const route = routes.get(path) ?? { body: undefined, byLimit: new Map<string, unknown>() }
  const limit = new URLSearchParams(query ?? '').get('limit')
  if (limit === null) route.body = body
  else route.byLimit.set(limit, body)
  routes.set(path, route)
}
const app = Fastify()
for (const [url, { body, byLimit }] of routes) {
  if (byLimit.size === 0) {
    app.get(url, async () => body)
  } else {
    app.get(url, async (request) => {
      const { limit } = request.query as { limit?: string }
      return (limit === undefined ? undefined : byLimit.get(limit)) ?? body
    })
  }
}
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' })
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })

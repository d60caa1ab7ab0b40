// The reference: a bare Fastify server with no storage, answering each route with a canned JSON
// object of the size the service answers it (read from the file named by REFERENCE_BODIES).
// It is the ceiling any Fastify service can reach on this machine.
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const bodies = JSON.parse(readFileSync(process.env.REFERENCE_BODIES!, 'utf8')) as Record<string, unknown>
const app = Fastify()
for (const [url, body] of Object.entries(bodies)) {
  app.get(url, async () => body)
}
await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' })
process.once('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })

import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/**
 * While the server closes, every answer ends its keep-alive connection. Without it, a client that
 * got its answer after SIGTERM keeps the connection open, and the shutdown waits on it until the
 * grace period runs out.
 */
async function draining (app: FastifyInstance): Promise<void> {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}

export default fp(draining, { name: 'draining', fastify: '5.x' })

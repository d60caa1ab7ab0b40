import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { REQUEST_ID_HEADER } from '../http/request-id.js'

/**
 * The headers every answer carries, errors included, set in one hook (each hook a request runs
 * through costs it time):
 * - the request's id (see http/request-id.ts);
 * - while the server closes, `Connection: close`. Without it, a client that got its answer after
 *   SIGTERM keeps its keep-alive connection open, and the shutdown waits on it until the grace
 *   period runs out.
 */
async function replyHeaders (app: FastifyInstance): Promise<void> {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header(REQUEST_ID_HEADER, request.id)
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}

export default fp(replyHeaders, { name: 'reply-headers', fastify: '5.x' })

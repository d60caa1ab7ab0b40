import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/**
 * One log line per request, when it is answered: method, URL (tokens redacted by the logger's
 * serializer), status and time, under the request's id. Fastify's default is two lines a request,
 * and logging is a large share of a request's cost here. Needs `disableRequestLogging` in the
 * server options.
 */
async function accessLog (app: FastifyInstance): Promise<void> {
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
    done()
  })
}

export default fp(accessLog, { name: 'access-log', fastify: '5.x' })

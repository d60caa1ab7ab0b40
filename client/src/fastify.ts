// The Fastify plugin: `app.register(sessionsPlugin, { client })`. Fastify is needed for its types
// only, so the package has no dependency on it.
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { SessionWithToken } from './client.js'
import { authenticate, type SessionMiddlewareOptions } from './middleware.js'

export type { SessionMiddlewareOptions } from './middleware.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The live session of the request's token; null only with the `optional` option. */
    session: SessionWithToken | null
  }
}

export type SessionsPluginOptions = SessionMiddlewareOptions<FastifyRequest>

async function sessions (app: FastifyInstance, opts: SessionsPluginOptions): Promise<void> {
  app.decorateRequest('session', null)
  app.addHook('onRequest', async (request, reply) => {
    const verdict = await authenticate(request.headers, opts.ip?.(request), opts)
    if ('error' in verdict) throw verdict.error
    if ('status' in verdict) {
      if (verdict.status === 503) request.log.warn('sessions service unavailable: answered 503')
      return await reply.code(verdict.status).headers(verdict.headers).send(verdict.body)
    }
    request.session = verdict.session
  })
}

// What fastify-plugin sets: the hook applies to the scope the plugin is registered in, not to a
// scope of its own.
Object.assign(sessions, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'sessions-client'
})

/**
 * Looks up the session of every request in the scope it is registered in (cookie or Bearer token)
 * and puts it on `request.session`; answers 401 when there is none, 503 while the service cannot tell.
 */
export const sessionsPlugin: FastifyPluginAsync<SessionsPluginOptions> = sessions

export default sessionsPlugin

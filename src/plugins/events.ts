import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { EventFeed } from '../events/feed.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The session events of this process's streams (GET /events). */
    events: EventFeed
  }
}

/**
 * One EventFeed per process, which long-polls Tarantool only while a stream is open. Its wait is
 * shorter than TARANTOOL_TIMEOUT_MS, the deadline of every call; the streams end as the app closes
 * (an open stream would hold the server's close until the grace period ran out).
 */
async function events (app: FastifyInstance): Promise<void> {
  const waitSeconds = Math.min(5, Math.max(0.05, (app.config.TARANTOOL_TIMEOUT_MS * 0.8) / 1000))
  const feed = new EventFeed(app.store, app.log, { waitSeconds })
  app.decorate('events', feed)
  app.addHook('preClose', async () => { feed.close() })
}

export default fp(events, { name: 'events', fastify: '5.x', dependencies: ['tarantool'] })

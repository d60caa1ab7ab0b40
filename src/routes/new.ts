import type { FastifyInstance } from 'fastify'
import { v4 as uuidv4 } from 'uuid'
import { extraFrom } from '../extra.js'
import { parseIp, parseUserId } from '../params.js'
import { sessionSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /new?user_id=&ip= — creates a session; the body, if any, becomes its extra. */
export default async function newRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ user_id: string, ip: string }>(app, {
    url: '/new',
    query: { user_id: 'user_id', ip: 'ip' },
    required: ['user_id', 'ip'],
    data: sessionSchema,
    handler: async (request) => {
      const userId = parseUserId(request.query.user_id)
      const ip = parseIp(request.query.ip)
      const extra = extraFrom(request.body, app.config.EXTRA_MAX_BYTES)
      // uuid v4 draws on crypto.randomUUID: a cryptographic source.
      return await app.store.create(uuidv4(), userId, ip, extra)
    }
  })
}

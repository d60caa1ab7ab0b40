import type { FastifyInstance } from 'fastify'
import { v4 as uuidv4 } from 'uuid'
import { extraFrom } from '../extra.js'
import { PARAM_SCHEMAS, parseIp, parseUserId } from '../params.js'
import { responsesOf, sessionSchema, success } from '../schemas.js'

/** GET|POST /new?user_id=&ip= — creates a session; the body, if any, becomes its extra. */
export default async function newRoute (app: FastifyInstance): Promise<void> {
  app.route<{ Querystring: { user_id: string, ip: string } }>({
    method: ['GET', 'POST'],
    url: '/new',
    exposeHeadRoute: false,
    schema: {
      querystring: {
        type: 'object',
        properties: { user_id: PARAM_SCHEMAS.user_id, ip: PARAM_SCHEMAS.ip },
        required: ['user_id', 'ip']
      },
      response: responsesOf(sessionSchema)
    },
    handler: async (request) => {
      const userId = parseUserId(request.query.user_id)
      const ip = parseIp(request.query.ip)
      const extra = extraFrom(request.body, app.config.EXTRA_MAX_BYTES)
      // uuid v4 draws on crypto.randomUUID / getRandomValues: a cryptographic source.
      return success(await app.store.create(uuidv4(), userId, ip, extra))
    }
  })
}

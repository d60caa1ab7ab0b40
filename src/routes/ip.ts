import type { FastifyInstance } from 'fastify'
import { PARAM_SCHEMAS, parseIp } from '../params.js'
import { responsesOf, sessionListSchema, success } from '../schemas.js'

/** GET|POST /ip?ip= — all live sessions whose current ip is this one, newest activity first. */
export default async function ipRoute (app: FastifyInstance): Promise<void> {
  app.route<{ Querystring: { ip: string } }>({
    method: ['GET', 'POST'],
    url: '/ip',
    exposeHeadRoute: false,
    schema: {
      querystring: {
        type: 'object',
        properties: { ip: PARAM_SCHEMAS.ip },
        required: ['ip']
      },
      response: responsesOf(sessionListSchema)
    },
    handler: async (request) => success(await app.store.byIp(parseIp(request.query.ip)))
  })
}

import type { FastifyInstance } from 'fastify'
import { extraFrom } from '../extra.js'
import { PARAM_SCHEMAS, parseIp } from '../params.js'
import { responsesOf, sessionSchema, success } from '../schemas.js'

/** GET|POST /get?token=[&ip=] — returns a session and marks it used; merges body extra into it. */
export default async function getRoute (app: FastifyInstance): Promise<void> {
  app.route<{ Querystring: { token: string, ip?: string } }>({
    method: ['GET', 'POST'],
    url: '/get',
    exposeHeadRoute: false,
    schema: {
      querystring: {
        type: 'object',
        properties: { token: PARAM_SCHEMAS.token, ip: PARAM_SCHEMAS.ip },
        required: ['token']
      },
      response: responsesOf(sessionSchema)
    },
    handler: async (request) => {
      const { token, ip } = request.query
      const currentIp = ip === undefined ? undefined : parseIp(ip)
      const extra = extraFrom(request.body, app.config.EXTRA_MAX_BYTES)
      return success(await app.store.touch(token, currentIp, extra))
    }
  })
}

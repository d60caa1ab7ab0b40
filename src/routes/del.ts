import type { FastifyInstance } from 'fastify'
import { PARAM_SCHEMAS } from '../params.js'
import { responsesOf, sessionSchema, success } from '../schemas.js'

/** GET|POST /del?token= — deletes a session and returns it. */
export default async function delRoute (app: FastifyInstance): Promise<void> {
  app.route<{ Querystring: { token: string } }>({
    method: ['GET', 'POST'],
    url: '/del',
    exposeHeadRoute: false,
    schema: {
      querystring: {
        type: 'object',
        properties: { token: PARAM_SCHEMAS.token },
        required: ['token']
      },
      response: responsesOf(sessionSchema)
    },
    handler: async (request) => success(await app.store.delete(request.query.token))
  })
}

import type { FastifyInstance } from 'fastify'
import { PARAM_SCHEMAS, parseUserId } from '../params.js'
import { responsesOf, sessionListSchema, success } from '../schemas.js'

/** GET|POST /user?id= — all live sessions of a user, newest activity first. */
export default async function userRoute (app: FastifyInstance): Promise<void> {
  app.route<{ Querystring: { id: string } }>({
    method: ['GET', 'POST'],
    url: '/user',
    exposeHeadRoute: false,
    schema: {
      querystring: {
        type: 'object',
        properties: { id: PARAM_SCHEMAS.user_id },
        required: ['id']
      },
      response: responsesOf(sessionListSchema)
    },
    handler: async (request) => success(await app.store.byUser(parseUserId(request.query.id)))
  })
}

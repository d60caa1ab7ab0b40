import type { FastifyInstance } from 'fastify'
import { parseUserId } from '../params.js'
import { sessionListSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /user?id= — all live sessions of a user, newest activity first. */
export default async function userRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ id: string }>(app, {
    url: '/user',
    query: { id: 'user_id' },
    required: ['id'],
    data: sessionListSchema,
    handler: async (request) => await app.store.byUser(parseUserId(request.query.id))
  })
}

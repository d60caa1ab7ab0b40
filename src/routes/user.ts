import type { FastifyInstance } from 'fastify'
import { parseUserId } from '../params.js'
import { SESSION_EXAMPLE, sessionListSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /user?id= — all live sessions of a user, newest activity first. */
export default async function userRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ id: string }>(app, {
    url: '/user',
    query: { id: 'user_id' },
    required: ['id'],
    data: sessionListSchema,
    example: [SESSION_EXAMPLE],
    errors: ['invalid_user_id'],
    summary: 'List a user\'s sessions',
    description: 'All live sessions of a user, most recently used first; an empty list when there are none.',
    handler: async (request) => await app.store.byUser(parseUserId(request.query.id))
  })
}

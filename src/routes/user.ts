import type { FastifyInstance } from 'fastify'
import { parseLimit, parseUserId } from '../api/params.js'
import { LIST_DOC, SESSION_EXAMPLE, sessionListSchema } from '../api/schemas.js'
import { endpoint } from './endpoint.js'

/** /user?id=[&limit=&after=] — a page of a user's live sessions, newest activity first. */
export default async function userRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ id: string, limit?: string, after?: string }>(app, {
    url: '/user',
    query: { id: 'user_id', limit: 'limit', after: 'after' },
    required: ['id'],
    data: sessionListSchema,
    example: [SESSION_EXAMPLE],
    errors: ['invalid_user_id', 'invalid_limit', 'invalid_cursor'],
    summary: 'List a user\'s sessions',
    description: 'The live sessions of a user, most recently used first; an empty list when there are none. ' + LIST_DOC,
    paged: true,
    handler: async (request) => {
      const { id, limit, after } = request.query
      return await app.store.byUser(parseUserId(id), { limit: parseLimit(limit, app.config.LIST_LIMIT), after })
    }
  })
}

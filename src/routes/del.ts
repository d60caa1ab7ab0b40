import type { FastifyInstance } from 'fastify'
import { ApiError } from '../api/errors.js'
import { SESSION_EXAMPLE, sessionSchema } from '../api/schemas.js'
import { endpoint } from './endpoint.js'

/** /del?token= or /del?id= — deletes a session and returns it. */
export default async function delRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ token?: string, id?: string }>(app, {
    url: '/del',
    query: { token: 'token', id: 'session_id' },
    required: [],
    data: sessionSchema,
    example: SESSION_EXAMPLE,
    errors: ['token_not_found'],
    summary: 'End a session',
    description: 'Deletes a session, named by its token or by its id (one of the two), and returns it as it was. ' +
      'A backend that lists a user\'s devices ends one by its id, never handing out tokens.',
    handler: async (request) => {
      const { token, id } = request.query
      if (token !== undefined && id !== undefined) throw new ApiError('bad_request', 'Send token or id, not both')
      if (id !== undefined) return await app.store.deleteById(id)
      if (token === undefined) throw new ApiError('token_not_found', 'token or id is required')
      return await app.store.delete(token)
    }
  })
}

import type { FastifyInstance } from 'fastify'
import { SESSION_EXAMPLE, sessionSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /del?token= — deletes a session and returns it. */
export default async function delRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ token: string }>(app, {
    url: '/del',
    query: { token: 'token' },
    required: ['token'],
    data: sessionSchema,
    example: SESSION_EXAMPLE,
    errors: ['token_not_found'],
    summary: 'End a session',
    description: 'Deletes a session and returns it as it was.',
    handler: async (request) => await app.store.delete(request.query.token)
  })
}

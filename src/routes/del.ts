import type { FastifyInstance } from 'fastify'
import { sessionSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /del?token= — deletes a session and returns it. */
export default async function delRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ token: string }>(app, {
    url: '/del',
    query: { token: 'token' },
    required: ['token'],
    data: sessionSchema,
    handler: async (request) => await app.store.delete(request.query.token)
  })
}

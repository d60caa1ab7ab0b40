import type { FastifyInstance } from 'fastify'
import { parseIp } from '../params.js'
import { sessionListSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /ip?ip= — all live sessions whose current ip is this one, newest activity first. */
export default async function ipRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ ip: string }>(app, {
    url: '/ip',
    query: { ip: 'ip' },
    required: ['ip'],
    data: sessionListSchema,
    handler: async (request) => await app.store.byIp(parseIp(request.query.ip))
  })
}

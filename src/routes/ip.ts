import type { FastifyInstance } from 'fastify'
import { parseIp } from '../params.js'
import { SESSION_EXAMPLE, sessionListSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /ip?ip= — all live sessions whose current ip is this one, newest activity first. */
export default async function ipRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ ip: string }>(app, {
    url: '/ip',
    query: { ip: 'ip' },
    required: ['ip'],
    data: sessionListSchema,
    example: [SESSION_EXAMPLE],
    errors: ['invalid_ip'],
    summary: 'List the sessions at an ip address',
    description: 'All live sessions whose current address is this one, most recently used first. IPv6 addresses match in any notation.',
    handler: async (request) => await app.store.byIp(parseIp(request.query.ip))
  })
}

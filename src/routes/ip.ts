import type { FastifyInstance } from 'fastify'
import { parseIp, parseLimit } from '../api/params.js'
import { LIST_DOC, SESSION_EXAMPLE, sessionListSchema } from '../api/schemas.js'
import { endpoint } from './endpoint.js'

/** /ip?ip=[&limit=&after=] — a page of the live sessions whose current ip is this one, newest activity first. */
export default async function ipRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ ip: string, limit?: string, after?: string }>(app, {
    url: '/ip',
    query: { ip: 'ip', limit: 'limit', after: 'after' },
    required: ['ip'],
    data: sessionListSchema,
    example: [SESSION_EXAMPLE],
    errors: ['invalid_ip', 'invalid_limit', 'invalid_cursor'],
    summary: 'List the sessions at an ip address',
    description: 'The live sessions whose current address is this one, most recently used first. IPv6 addresses match in any notation. ' + LIST_DOC,
    paged: true,
    handler: async (request) => {
      const { ip, limit, after } = request.query
      return await app.store.byIp(parseIp(ip), { limit: parseLimit(limit, app.config.LIST_LIMIT), after })
    }
  })
}

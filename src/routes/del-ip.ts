import type { FastifyInstance } from 'fastify'
import { parseIp } from '../api/params.js'
import { deletedSchema, SIGN_OUT_DOC } from '../api/schemas.js'
import { endpoint } from './endpoint.js'

/** /del_ip?ip= — ends every session whose current ip is this one. */
export default async function delIpRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ ip: string }>(app, {
    url: '/del_ip',
    query: { ip: 'ip' },
    required: ['ip'],
    data: deletedSchema,
    example: { deleted: 3 },
    errors: ['invalid_ip'],
    summary: 'End every session at an address',
    description: 'Ends every session whose current address is this one. ' + SIGN_OUT_DOC,
    handler: async (request) => await app.store.deleteIp(parseIp(request.query.ip))
  })
}

import type { FastifyInstance } from 'fastify'
import { extraFrom } from '../extra.js'
import { parseIp } from '../params.js'
import { sessionSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /get?token=[&ip=] — returns a session and marks it used; merges body extra into it. */
export default async function getRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ token: string, ip?: string }>(app, {
    url: '/get',
    query: { token: 'token', ip: 'ip' },
    required: ['token'],
    data: sessionSchema,
    handler: async (request) => {
      const { token, ip } = request.query
      const currentIp = ip === undefined ? undefined : parseIp(ip)
      const extra = extraFrom(request.body, app.config.EXTRA_MAX_BYTES)
      return await app.store.touch(token, currentIp, extra)
    }
  })
}

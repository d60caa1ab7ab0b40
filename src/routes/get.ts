import type { FastifyInstance } from 'fastify'
import { extraFrom } from '../api/extra.js'
import { parseIp } from '../api/params.js'
import { EXTRA_DOC, SESSION_EXAMPLE, sessionSchema } from '../api/schemas.js'
import { endpoint } from './endpoint.js'

/** /get?token=[&ip=] — returns a session and marks it used; merges body extra into it. */
export default async function getRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ token: string, ip?: string }>(app, {
    url: '/get',
    query: { token: 'token', ip: 'ip' },
    required: ['token'],
    data: sessionSchema,
    example: SESSION_EXAMPLE,
    errors: ['token_not_found', 'invalid_ip', 'invalid_extra', 'payload_too_large', 'unsupported_media_type'],
    summary: 'Get a session and mark it used',
    description: 'Returns a live session and sets its activity to now, which keeps it from expiring. With `ip`, records the user\'s current address. ' +
      'Extra data sent along is merged into the session\'s (its keys replace the stored ones). ' +
      EXTRA_DOC,
    handler: (request) => {
      const { token, ip } = request.query
      const currentIp = ip === undefined ? undefined : parseIp(ip)
      const extra = extraFrom(request.body)
      return app.store.touch(token, currentIp, extra)
    }
  })
}

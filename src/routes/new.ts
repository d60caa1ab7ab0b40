import type { FastifyInstance } from 'fastify'
import { v4 as uuidv4 } from 'uuid'
import { extraFrom } from '../extra.js'
import { parseIp, parseUserId } from '../params.js'
import { EXTRA_DOC, SESSION_EXAMPLE, sessionSchema } from '../schemas.js'
import { endpoint } from './endpoint.js'

/** /new?user_id=&ip= — creates a session; the body, if any, becomes its extra. */
export default async function newRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ user_id: string, ip: string }>(app, {
    url: '/new',
    query: { user_id: 'user_id', ip: 'ip' },
    required: ['user_id', 'ip'],
    data: sessionSchema,
    example: { ...SESSION_EXAMPLE, extra: null, activity: SESSION_EXAMPLE.create },
    errors: ['invalid_user_id', 'invalid_ip', 'invalid_extra', 'payload_too_large', 'unsupported_media_type'],
    summary: 'Create a session',
    description: 'Creates a session for a user at an ip address, with a fresh random token (UUID v4). ' +
      EXTRA_DOC,
    handler: async (request) => {
      const userId = parseUserId(request.query.user_id)
      const ip = parseIp(request.query.ip)
      const extra = extraFrom(request.body, app.config.EXTRA_MAX_BYTES)
      // uuid v4 draws on crypto.randomUUID: a cryptographic source.
      return await app.store.create(uuidv4(), userId, ip, extra)
    }
  })
}

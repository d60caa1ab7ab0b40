import type { FastifyInstance } from 'fastify'
import { v4 as uuidv4 } from 'uuid'
import { extraFrom } from '../api/extra.js'
import { MAX_SESSION_SECONDS, parseIp, parseSeconds, parseUserId } from '../api/params.js'
import { EXTRA_DOC, SESSION_EXAMPLE, sessionSchema } from '../api/schemas.js'
import { endpoint } from './endpoint.js'

/** /new?user_id=&ip=[&ttl=][&lifetime=] — creates a session; the body, if any, becomes its extra. */
export default async function newRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ user_id: string, ip: string, ttl?: string, lifetime?: string }>(app, {
    url: '/new',
    query: { user_id: 'user_id', ip: 'ip', ttl: 'ttl', lifetime: 'lifetime' },
    required: ['user_id', 'ip'],
    data: sessionSchema,
    example: { ...SESSION_EXAMPLE, extra: null, activity: SESSION_EXAMPLE.create, expires: SESSION_EXAMPLE.create + 15552000 },
    errors: ['invalid_user_id', 'invalid_ip', 'invalid_ttl', 'invalid_lifetime', 'invalid_extra', 'payload_too_large', 'unsupported_media_type', 'too_many_sessions'],
    summary: 'Create a session',
    description: 'Creates a session for a user at an ip address, with a fresh random token (UUID v4). ' +
      'With `ttl`, the session is gone after that many seconds unused (default SESSION_TTL_SECONDS); with `lifetime`, that many seconds ' +
      'after its creation however used (default MAX_LIFETIME_SECONDS; 0 there: none). ' +
      'With MAX_SESSIONS_PER_USER set, a user at the limit loses its least recently used session to this one ' +
      '(SESSION_LIMIT_POLICY=evict_oldest) or gets `too_many_sessions` (deny). ' +
      EXTRA_DOC,
    handler: (request) => {
      const userId = parseUserId(request.query.user_id)
      const ip = parseIp(request.query.ip)
      const ttl = parseSeconds(request.query.ttl, 1, MAX_SESSION_SECONDS, 'invalid_ttl')
      const lifetime = parseSeconds(request.query.lifetime, 1, MAX_SESSION_SECONDS, 'invalid_lifetime')
      const extra = extraFrom(request.body)
      // uuid v4 draws on crypto.randomUUID: a cryptographic source.
      return app.store.create(uuidv4(), userId, ip, extra, { ttl, lifetime })
    }
  })
}

import type { FastifyInstance } from 'fastify'
import { v4 as uuidv4 } from 'uuid'
import { parseSeconds } from '../api/params.js'
import { SESSION_EXAMPLE, sessionSchema } from '../api/schemas.js'
import { endpoint } from './endpoint.js'

/** The longest the old token of a rotated session may keep working. */
const MAX_GRACE_SECONDS = 60

/** /rotate?token=[&grace=] — gives a session a new token and returns it. */
export default async function rotateRoute (app: FastifyInstance): Promise<void> {
  endpoint<{ token: string, grace?: string }>(app, {
    url: '/rotate',
    query: { token: 'token', grace: 'grace' },
    required: ['token'],
    data: sessionSchema,
    example: { ...SESSION_EXAMPLE, token: '3f1d8a52-7c2e-4b7a-9d61-0c5e8b9a2f47', activity: SESSION_EXAMPLE.activity + 60, expires: SESSION_EXAMPLE.expires + 60 },
    errors: ['token_not_found', 'invalid_grace'],
    summary: 'Give a session a new token',
    description: 'Gives a live session a new random token and returns the session with it: the same id, user, create, ip, extra, ttl and lifetime, ' +
      'activity now. The old token stops working at once, or after `grace` seconds (0 to 60), for requests already on their way with it. ' +
      'Rotate at sign-in and at every change of privilege (OWASP). A repeated call with the old token after its grace answers token_not_found.',
    handler: async (request) => {
      const grace = parseSeconds(request.query.grace, 0, MAX_GRACE_SECONDS, 'invalid_grace') ?? 0
      // uuid v4 draws on crypto.randomUUID: a cryptographic source.
      return await app.store.rotate(request.query.token, uuidv4(), grace)
    }
  })
}

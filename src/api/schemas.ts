// Response schemas: the seed's envelope around its SessionObject. Declared for every route so that
// responses are serialized fast and documented.
import { ERRORS, type ErrorCode } from './errors.js'

export const sessionSchema = {
  type: 'object',
  description: 'SessionObject',
  properties: {
    ip: { type: 'string', description: 'Current IP address of the user (canonical form)' },
    extra: { type: ['object', 'null'], additionalProperties: true, description: 'Extra data' },
    user_id: { type: 'integer' },
    create: { type: 'integer', description: 'Creation time, Unix seconds' },
    activity: { type: 'integer', description: 'Last use by /get, Unix seconds' },
    token: { type: 'string', description: 'Session token (UUID v4). With TOKEN_STORAGE=hashed, only where the caller sent it or the session was just created: absent from lists and from /del by id.' },
    id: { type: 'string', description: 'Session id: names the session for good (a rotation keeps it) and is not a secret (nobody can compute the token from it). Show it to users and end a session with /del?id=.' },
    expires: { type: 'integer', description: 'The Unix second from which the session is gone if not used again: min(activity + ttl, create + lifetime), ttl and lifetime its own or the defaults (SESSION_TTL_SECONDS, MAX_LIFETIME_SECONDS)' }
  },
  // token, id and expires are left out of required so that they are written after the seed's keys,
  // in its order: the serializer writes the required keys first. id and expires are always there;
  // token is where the caller may have it.
  required: ['ip', 'extra', 'user_id', 'create', 'activity']
} as const

/** How /new and /get take extra data, for the docs. */
export const EXTRA_DOC = 'Extra data: send a body, `application/x-www-form-urlencoded` or `application/json` (an object), ' +
  'with a GET as the seed\'s PHP example does, or with a POST. At most EXTRA_MAX_BYTES (default 8192) bytes as JSON.stringify writes it ' +
  '(measured on the stored value, new or merged), nested at most 32 levels.'

/** How the lists page, for the docs. */
export const LIST_DOC = 'Pages: at most `limit` sessions (1 to 1000; default LIST_LIMIT, 1000), and `next`, the cursor of the next page ' +
  '(null on the last): send it back as `after`. A walk through the pages sees every session that stays live and unused during it ' +
  'exactly once; a session used during the walk moves to the front, so a walker that has passed it does not see it again.'

/** What signing out everywhere does, for the docs. */
export const SIGN_OUT_DOC = 'The sessions are ended in batches, and other requests are served meanwhile; the answer comes once all are gone. ' +
  'It ends the sessions that existed when it began, those used meanwhile included; one created while it runs, in a later second, is kept.'

/** The seed's example SessionObject. */
export const SESSION_EXAMPLE = {
  ip: '192.168.1.1',
  extra: { os: 'Android', device: 'Nexus 5' },
  user_id: 1,
  create: 1464909151,
  activity: 1465564426,
  token: '61494096-9af7-49ba-9fb4-e89c0811e6d3',
  id: 'oyP5Cm3kQ0mqY4bJ8ZbHcw',
  expires: 1481116426
}

export const deletedSchema = {
  type: 'object',
  properties: { deleted: { type: 'integer', description: 'How many live sessions ended' } },
  required: ['deleted']
} as const

export const sessionListSchema = { type: 'array', items: sessionSchema } as const

export const errorSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['error'] },
    code: { type: 'string' },
    message: { type: 'string' }
  },
  required: ['status', 'code', 'message']
} as const

// Errors any API call may answer: malformed or unauthorized requests, a broken service.
const COMMON_ERRORS: ErrorCode[] = ['bad_request', 'unauthorized', 'request_timeout', 'headers_too_large', 'internal_error', 'storage_unavailable']

/** The error envelope for these codes, described with each code's meaning for the docs. */
function errorsSchema (codes: ErrorCode[]): object {
  return {
    ...errorSchema,
    description: codes.map((code) => `\`${code}\`: ${ERRORS[code].message}`).join('\n\n'),
    properties: { ...errorSchema.properties, code: { type: 'string', enum: codes } },
    example: { status: 'error', code: codes[0], message: ERRORS[codes[0]].message }
  }
}

/**
 * The responses of a route whose success data has this schema: the success envelope, then the
 * error envelope under each status the route's codes (and the common ones, unless `bare`) have.
 */
export function responsesOf (data: object, codes: ErrorCode[], opts: { bare?: boolean, example?: unknown, paged?: boolean } = {}): Record<string, object> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of opts.bare === true ? codes : [...codes, ...COMMON_ERRORS]) {
    const status = ERRORS[code].status
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  return {
    200: {
      type: 'object',
      description: 'Success',
      properties: { status: { type: 'string', enum: ['success'] }, data, ...(opts.paged === true ? { next: nextSchema } : {}) },
      required: opts.paged === true ? ['status', 'data', 'next'] : ['status', 'data'],
      ...(opts.example === undefined ? {} : { example: { status: 'success', data: opts.example, ...(opts.paged === true ? { next: null } : {}) } })
    },
    ...Object.fromEntries([...byStatus].sort(([a], [b]) => a - b).map(([status, list]) => [status, errorsSchema(list)])),
    // Any other error still serializes as the envelope.
    '4xx': errorSchema,
    '5xx': errorSchema
  }
}

/** The success envelope. */
export function success<T> (data: T): { status: 'success', data: T } {
  return { status: 'success', data }
}

/** A list's envelope: a page of sessions, and the cursor of the next page (null on the last). */
const nextSchema = {
  type: ['string', 'null'],
  description: 'Cursor of the next page: send it back as `after`. null on the last page.'
} as const

/** The success envelope of a page. */
export function successPage<T> (page: { sessions: T[], next: string | null }): { status: 'success', data: T[], next: string | null } {
  return { status: 'success', data: page.sessions, next: page.next }
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { parseEventId, parseLimit, parseUserId, PARAM_SCHEMAS } from '../api/params.js'
import { responsesOf } from '../api/schemas.js'
import { RETRY } from '../events/sse.js'
import { REQUEST_ID_HEADER } from '../http/request-id.js'
import type { EventPage } from '../store/types.js'

interface Query { after?: string, limit?: string, user_id?: string, last_event_id?: string }

const EVENT_TYPES = ['created', 'revoked', 'rotated', 'updated', 'reset']
const REASONS = ['deleted', 'signed_out', 'ip_signed_out', 'evicted', 'expired', 'tokens_hashed']

export const eventSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer', description: 'The event\'s id: increasing; the SSE `id` and what Last-Event-ID or `after` takes' },
    type: { type: 'string', enum: EVENT_TYPES },
    id: { type: 'string', description: 'The session\'s id (SessionObject.id); never a token. On every type but `reset`' },
    user_id: { type: 'integer', description: 'On every type but `reset`' },
    time: { type: 'number', description: 'Unix seconds, to the millisecond' },
    ip: { type: 'string', description: 'The session\'s ip after the change. On every type but `reset`' },
    reason: {
      type: 'string',
      enum: REASONS,
      description: 'On `revoked`: /del, /del_user, /del_ip, the per-user limit, or expiry. On `reset`: `tokens_hashed` ' +
        '(TOKEN_STORAGE=hashed moved sessions to their hashed keys, which changed their ids)'
    }
  },
  required: ['seq', 'type', 'time']
} as const

const EXAMPLE = { seq: 1042, type: 'revoked', id: 'oyP5Cm3kQ0mqY4bJ8ZbHcw', user_id: 1, time: 1464909151.25, ip: '192.168.1.1', reason: 'signed_out' }

/** Whether the caller asks for the stream rather than a page (an EventSource sends this). */
function wantsStream (request: FastifyRequest): boolean {
  const accept = request.headers.accept
  return accept !== undefined && accept.includes('text/event-stream')
}

/**
 * GET /events: what happens to sessions, in order. As Server-Sent Events when asked with
 * `Accept: text/event-stream` (resumed after Last-Event-ID, or its query form); else a page in
 * the envelope, after the event `after`.
 */
export default async function eventsRoute (app: FastifyInstance): Promise<void> {
  app.route<{ Querystring: Query }>({
    method: 'GET',
    url: '/events',
    exposeHeadRoute: false,
    schema: {
      tags: ['events'],
      security: app.config.API_KEY === undefined ? [] : [{ apiKey: [] }],
      summary: 'Session events: a stream, or a page',
      description: 'Every change to a session, in order: `created` (/new), `revoked` (with `reason`), `rotated` (the old token stopped working), ' +
        '`updated` (a /get changed its ip or extra; one that only marks use is no event), and `reset` (reason `tokens_hashed`: the ids of ' +
        'sessions changed, as TOKEN_STORAGE=hashed converts plain tokens; drop whatever was cached). Kept EVENTS_RETENTION_SECONDS (900 by default).\n\n' +
        '**Stream**: with `Accept: text/event-stream`, the answer is `text/event-stream`: each event as `id: <seq>`, `event: <type>`, ' +
        '`data: <the event as JSON>`; a comment at least every 5 s while nothing happens; from now, or right after the event named by the ' +
        '`Last-Event-ID` header (or `last_event_id`), none missed and none repeated. When that event is no longer kept, an event `reset` ' +
        'comes first: drop whatever was cached from earlier events.\n\n' +
        '**Page**: otherwise, up to `limit` events after the event `after` (0: the oldest kept), oldest first, only `user_id`\'s when given; ' +
        '`next` is the `after` of the next call, and `reset` is true when events after `after` were dropped before this page.',
      querystring: {
        type: 'object',
        properties: {
          after: PARAM_SCHEMAS.event_id,
          limit: { ...PARAM_SCHEMAS.limit, description: 'Most events in the page: 1 to 1000 (default 100)' },
          user_id: PARAM_SCHEMAS.user_id,
          last_event_id: { ...PARAM_SCHEMAS.event_id, description: 'The stream: Last-Event-ID for clients that cannot set it' }
        }
      },
      response: (() => {
        const responses = responsesOf({ type: 'array', items: eventSchema }, ['invalid_event_id', 'invalid_limit', 'invalid_user_id'], { example: [EXAMPLE] })
        const ok = responses[200] as { properties: Record<string, object>, required: string[] }
        ok.properties.next = { type: 'integer', description: 'The `after` of the next page' }
        ok.properties.reset = { type: 'boolean', description: 'true when events after `after` were dropped (past EVENTS_RETENTION_SECONDS)' }
        ok.required.push('next')
        return responses
      })()
    },
    handler: (request, reply) => {
      if (wantsStream(request)) return stream(app, request, reply)
      const after = parseEventId(request.query.after) ?? 0
      const limit = parseLimit(request.query.limit, 100)
      const userId = request.query.user_id === undefined ? undefined : parseUserId(request.query.user_id)
      return app.store.eventsPage(after, limit, userId).then((page) => pageEnvelope(after, page))
    }
  })
}

function pageEnvelope (after: number, page: EventPage): object {
  const last = page.events.at(-1)
  const envelope: Record<string, unknown> = { status: 'success', data: page.events, next: last?.seq ?? after }
  // Dropped past their retention, or an id this Tarantool never gave.
  if ((after > 0 && after + 1 < page.oldest) || after > page.newest) {
    envelope.reset = true
    if (last === undefined) envelope.next = page.newest
  }
  return envelope
}

async function stream (app: FastifyInstance, request: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply): Promise<void> {
  const header = request.headers['last-event-id']
  // Checked before the stream starts: a bad id is a 400 in the envelope.
  const after = parseEventId(typeof header === 'string' && header !== '' ? header.trim() : request.query.last_event_id)
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    // Proxies (nginx) that buffer answers would hold events back.
    'x-accel-buffering': 'no',
    [REQUEST_ID_HEADER]: request.id
  })
  res.write(RETRY)
  let remove: (() => void) | undefined
  let gone = false
  res.on('close', () => {
    gone = true
    remove?.()
  })
  try {
    remove = await app.events.subscribe(res, after)
    if (gone) remove()
  } catch (err) {
    request.log.warn({ err }, 'could not start an event stream')
    res.end()
  }
}

import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

export const REQUEST_ID_HEADER = 'x-request-id'

// What a caller's id may look like: it is written to logs and echoed, so nothing that could break
// a log line or a header.
const VALID_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/

/**
 * Fastify's genReqId: the caller's `x-request-id` when it is a sane one, so a request can be
 * followed across services; otherwise a fresh UUID.
 */
export function requestId (req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER]
  return typeof given === 'string' && VALID_ID.test(given) ? given : randomUUID()
}

/** Echoes the request id in every response, errors included. */
async function requestIdHeader (app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id)
    done()
  })
}

export default fp(requestIdHeader, { name: 'request-id', fastify: '5.x' })

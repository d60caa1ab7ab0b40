import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

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

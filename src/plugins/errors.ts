import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, ERRORS } from '../api/errors.js'
import { PARAM_ERRORS } from '../api/params.js'
import { OutageLog } from '../http/outage-log.js'
import { StorageAuthError, StorageUnavailableError } from '../store/tarantool-errors.js'

// Fastify's own request errors that have a code of ours.
const FASTIFY_ERRORS: Record<string, ApiError['code']> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request'
}

function validationError (err: FastifyError, url: string | undefined): ApiError {
  const first = err.validation?.[0]
  const field = (first?.params as { missingProperty?: string } | undefined)?.missingProperty ??
    first?.instancePath.replace(/^\//, '') ?? ''
  // A parameter's error by its route first: `id` is a user id on /user, a session id on /del.
  const code = PARAM_ERRORS[`${url ?? ''} ${field}`] ?? PARAM_ERRORS[field]
  if (code === undefined) return new ApiError('bad_request')
  return new ApiError(code, first?.params && 'missingProperty' in first.params
    ? `${field} is required`
    : ERRORS[code].message)
}

/**
 * Maps any error to the API's codes; what is not an expected failure becomes internal_error.
 * `url`: the route's, for the parameters whose error depends on it.
 */
export function toApiError (err: FastifyError | Error, url?: string): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof StorageUnavailableError || err instanceof StorageAuthError) {
    return new ApiError('storage_unavailable')
  }
  const fastifyError = err as FastifyError
  if (fastifyError.validation) return validationError(fastifyError, url)
  const code = FASTIFY_ERRORS[fastifyError.code]
  if (code !== undefined) return new ApiError(code)
  const status = fastifyError.statusCode ?? 500
  if (status >= 400 && status < 500) return new ApiError('bad_request')
  return new ApiError('internal_error')
}

/**
 * Answers with the API's error envelope; logs what is not an expected failure, and 503s through
 * `outages` (a line per window, not per request).
 */
export function sendError (err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply, outages?: OutageLog): FastifyReply {
  const apiError = toApiError(err, request.routeOptions.url)
  if (apiError.code === 'storage_unavailable') {
    // Expected while Tarantool is away; the connection's own state changes are logged apart.
    if (outages !== undefined) outages.failed(err.message)
    else request.log.warn(`request failed: storage_unavailable: ${err.message}`)
  } else if (apiError.statusCode >= 500) {
    request.log.error({ err }, `request failed: ${apiError.code}`)
  }
  return reply.code(apiError.statusCode).send({ status: 'error', code: apiError.code, message: apiError.message })
}

// What Node's HTTP parser reports before Fastify sees a request.
const CLIENT_ERRORS: Record<string, ApiError['code']> = {
  HPE_HEADER_OVERFLOW: 'headers_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout'
}

/** Answers a request Node could not parse (Fastify's clientErrorHandler) with the envelope. */
export function sendClientError (err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
    socket.destroy()
    return
  }
  const { code, statusCode, message } = new ApiError(CLIENT_ERRORS[err.code ?? ''] ?? 'bad_request')
  const body = JSON.stringify({ status: 'error', code, message })
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** One error shape for every failure: `{status:'error', code, message}`; 5xx never show internals. */
async function errors (app: FastifyInstance): Promise<void> {
  const outages = new OutageLog(app.log.child({ component: 'outage' }))
  app.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply, outages))
  app.addHook('onClose', async () => { outages.flush() })

  app.setNotFoundHandler((_request, reply) => {
    const { status, message } = ERRORS.not_found
    return reply.code(status).send({ status: 'error', code: 'not_found', message })
  })
}

export default fp(errors, { name: 'errors', fastify: '5.x' })

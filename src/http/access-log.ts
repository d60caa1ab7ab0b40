import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

/**
 * Which requests get an access line: `all` of them; `errors`, those answered with an error
 * (4xx, 5xx) or slower than the slow threshold; or none (`off`). Lines of errors raised while
 * answering are written in every mode.
 */
export type AccessLogMode = 'all' | 'errors' | 'off'

/**
 * Fastify's request logging, one line per request when it is answered: method, URL (tokens
 * redacted by the logger's serializer), remote address, status and time, under the request's id.
 * Fastify's default is two lines a request (one on arrival); its other lines (errors while
 * answering) stay as they are.
 */
export class AccessLog extends LogController {
  readonly #mode: AccessLogMode
  readonly #slowMs: number

  constructor (mode: AccessLogMode, slowMs: number) {
    super()
    this.#mode = mode
    this.#slowMs = slowMs
  }

  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      request.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored')
    } else if (this.logs(reply.statusCode, reply.elapsedTime)) {
      request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
    }
  }

  /**
   * Whether a request answered with `status` after `ms` gets its line. With `errors`, a 503
   * (storage_unavailable) gets none: during an outage those are summed up by the OutageLog.
   */
  logs (status: number, ms: number): boolean {
    if (this.#mode === 'all') return true
    if (this.#mode === 'off') return false
    return (status >= 400 && status !== 503) || ms >= this.#slowMs
  }
}

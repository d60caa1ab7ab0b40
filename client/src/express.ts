// Express (or Connect, or a plain node:http handler) middleware: `app.use(sessionsMiddleware({ client }))`.
// Written against Node's own request and response, so Express is no dependency.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SessionWithToken } from './client.js'
import { authenticate, type SessionMiddlewareOptions } from './middleware.js'

export type { SessionMiddlewareOptions } from './middleware.js'

/** A request once the middleware let it through. */
export type RequestWithSession<Request extends IncomingMessage = IncomingMessage> = Request & {
  /** The live session of the request's token; null only with the `optional` option. */
  session: SessionWithToken | null
}

/**
 * Looks up the session of each request (cookie or Bearer token) and sets `req.session`, then calls
 * `next()`; answers 401 when there is none and 503 while the service cannot tell; passes any other
 * failure to `next(err)`.
 */
export function sessionsMiddleware<Request extends IncomingMessage = IncomingMessage> (opts: SessionMiddlewareOptions<Request>):
(req: Request, res: ServerResponse, next: (err?: unknown) => void) => void {
  return (req, res, next) => {
    void authenticate(req.headers, opts.ip?.(req), opts).then((verdict) => {
      if ('error' in verdict) {
        next(verdict.error)
        return
      }
      if ('status' in verdict) {
        res.statusCode = verdict.status
        for (const [name, value] of Object.entries(verdict.headers)) res.setHeader(name, value)
        res.setHeader('content-type', 'application/json; charset=utf-8')
        res.end(JSON.stringify(verdict.body))
        return
      }
      (req as RequestWithSession<Request>).session = verdict.session
      next()
    }, next)
  }
}

export default sessionsMiddleware

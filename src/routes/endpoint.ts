import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ErrorCode } from '../api/errors.js'
import { PARAM_SCHEMAS } from '../api/params.js'
import type { SessionPage } from '../store/types.js'
import { responsesOf, success, successPage } from '../api/schemas.js'

type Param = keyof typeof PARAM_SCHEMAS

export interface EndpointOptions<Q> {
  url: string
  /** Query parameters: name -> which kind of parameter it is; `required` are the compulsory ones. */
  query: Record<keyof Q & string, Param>
  required: Array<keyof Q & string>
  /** Schema of the success data, and an example of it for the docs. */
  data: object
  example: unknown
  /** The error codes particular to this endpoint (the common ones are added). */
  errors: ErrorCode[]
  /** For the API docs: a line, then as much as needed. */
  summary: string
  description: string
  /**
   * Returns the success data (a page, for a paged endpoint); throws an ApiError, or rejects with
   * one, for an expected failure.
   */
  handler: (request: FastifyRequest<{ Querystring: Q }>) => Promise<unknown>
  /** A list: the handler returns a SessionPage, answered as `data` and `next`. */
  paged?: boolean
}

/**
 * Registers an endpoint the way the API has them all: GET and POST alike (no HEAD: a GET here may
 * create or change a session), parameters in the query string, the success envelope around the data.
 */
export function endpoint<Q> (app: FastifyInstance, opts: EndpointOptions<Q>): void {
  const properties = Object.fromEntries(
    Object.entries<Param>(opts.query).map(([name, kind]) => [name, PARAM_SCHEMAS[kind]]))
  app.route<{ Querystring: Q }>({
    method: ['GET', 'POST'],
    url: opts.url,
    exposeHeadRoute: false,
    schema: {
      tags: ['sessions'],
      // The security this service applies: the key when API_KEY is set, none without (a tool that
      // follows the document, a validating proxy, would refuse every call otherwise).
      security: app.config.API_KEY === undefined ? [] : [{ apiKey: [] }],
      summary: opts.summary,
      description: opts.description,
      querystring: { type: 'object', properties, required: opts.required },
      response: responsesOf(opts.data, opts.errors, { example: opts.example, paged: opts.paged })
    },
    // The handler's promise with the envelope added, not an async function around it: one promise
    // and one turn of the microtask queue fewer a request.
    handler: opts.paged === true
      ? (request) => opts.handler(request).then((page) => successPage(page as SessionPage))
      : (request) => opts.handler(request).then(success)
  })
}

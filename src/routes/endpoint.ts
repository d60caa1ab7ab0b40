import type { FastifyInstance, FastifyRequest } from 'fastify'
import { PARAM_SCHEMAS } from '../params.js'
import { responsesOf, success } from '../schemas.js'

type Param = keyof typeof PARAM_SCHEMAS

export interface EndpointOptions<Q> {
  url: string
  /** Query parameters: name -> which kind of parameter it is; `required` are the compulsory ones. */
  query: Record<keyof Q & string, Param>
  required: Array<keyof Q & string>
  /** Schema of the success data. */
  data: object
  /** Returns the success data; throws an ApiError for an expected failure. */
  handler: (request: FastifyRequest<{ Querystring: Q }>) => Promise<unknown>
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
      querystring: { type: 'object', properties, required: opts.required },
      response: responsesOf(opts.data)
    },
    handler: async (request) => success(await opts.handler(request))
  })
}

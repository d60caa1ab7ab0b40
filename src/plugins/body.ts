import { parse as parseForm } from 'node:querystring'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../api/errors.js'
import { UnusableBody } from '../api/extra.js'

/** Most fields a form body may have; node:querystring would silently drop those past its 1000. */
export const FORM_MAX_FIELDS = 1000

/** A form body as an object, or an UnusableBody when it has more than FORM_MAX_FIELDS fields. */
function parseFormBody (text: string): unknown {
  // Counted before parsing, repeated keys included: a form is either taken whole or refused.
  if (text.split('&', FORM_MAX_FIELDS + 1).length > FORM_MAX_FIELDS) {
    return new UnusableBody(new ApiError('payload_too_large', `A form may have at most ${FORM_MAX_FIELDS} fields`))
  }
  return parseForm(text, '&', '=', { maxKeys: 0 })
}

/**
 * Request bodies carry a session's extra data, on GET as well as POST (the seed's PHP client sends
 * a form body with a GET, which Fastify ignores by default). Accepted: a form
 * (application/x-www-form-urlencoded, at most FORM_MAX_FIELDS fields) or application/json. An empty body,
 * whatever its type, means no extra data. Bodies are limited by the server's bodyLimit. A body
 * that cannot be extra data becomes an UnusableBody: an error only where extra data is read.
 */
async function body (app: FastifyInstance): Promise<void> {
  app.addHttpMethod('GET', { hasBody: true, overrideExisting: true })
  app.removeAllContentTypeParsers()
  const parserOptions = { parseAs: 'string' } as const

  // Fastify's own JSON parser: rejects __proto__ and constructor.prototype keys. It answers through
  // the callback (its type allows a promise too).
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser<string>('application/json', parserOptions, (request, text, done) => {
    if (text === '') {
      done(null, undefined)
      return
    }
    void parseJson(request, text, (err, value) => {
      done(null, err ? new UnusableBody(new ApiError('invalid_extra', 'Extra data must be valid JSON, without __proto__ keys')) : value)
    })
  })

  app.addContentTypeParser<string>('application/x-www-form-urlencoded', parserOptions, (_request, text, done) => {
    done(null, text === '' ? undefined : parseFormBody(text))
  })

  app.addContentTypeParser<Buffer>('*', { parseAs: 'buffer' }, (_request, raw, done) => {
    done(null, raw.length === 0 ? undefined : new UnusableBody(new ApiError('unsupported_media_type')))
  })
}

export default fp(body, { name: 'body', fastify: '5.x' })

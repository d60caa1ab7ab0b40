import { parse as parseForm } from 'node:querystring'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../errors.js'
import { UnusableBody } from '../extra.js'

/**
 * Request bodies carry a session's extra data, on GET as well as POST (the seed's PHP client sends
 * a form body with a GET, which Fastify ignores by default). Accepted: a form
 * (application/x-www-form-urlencoded, at most 1000 keys) or application/json. An empty body,
 * whatever its type, means no extra data. Bodies are limited by the server's bodyLimit. A body
 * that cannot be extra data becomes an UnusableBody: an error only where extra data is read.
 */
async function body (app: FastifyInstance): Promise<void> {
  app.addHttpMethod('GET', { hasBody: true, overrideExisting: true })
  app.removeAllContentTypeParsers()
  const parserOptions = { parseAs: 'string' } as const

  // Fastify's own JSON parser: rejects __proto__ and constructor.prototype keys.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser<string>('application/json', parserOptions, (request, text, done) => {
    if (text === '') {
      done(null, undefined)
      return
    }
    parseJson(request, text, (err, value) => {
      done(null, err ? new UnusableBody(new ApiError('invalid_extra', 'Extra data must be valid JSON, without __proto__ keys')) : value)
    })
  })

  app.addContentTypeParser<string>('application/x-www-form-urlencoded', parserOptions, (_request, text, done) => {
    done(null, text === '' ? undefined : parseForm(text))
  })

  app.addContentTypeParser<Buffer>('*', { parseAs: 'buffer' }, (_request, raw, done) => {
    done(null, raw.length === 0 ? undefined : new UnusableBody(new ApiError('unsupported_media_type')))
  })
}

export default fp(body, { name: 'body', fastify: '5.x' })

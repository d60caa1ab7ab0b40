import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { OpenAPIV3 } from 'openapi-types'
import { EXTRA_DOC } from '../api/schemas.js'

// Routes that take extra data in their body.
const EXTRA_ROUTES = ['/new', '/get']

const extraBody: OpenAPIV3.RequestBodyObject = {
  required: false,
  description: EXTRA_DOC,
  content: {
    'application/x-www-form-urlencoded': {
      schema: { type: 'object', additionalProperties: { type: 'string' } },
      example: { device: 'Nexus 5', os: 'Android' }
    },
    'application/json': {
      schema: { type: 'object', additionalProperties: true },
      example: { device: 'Nexus 5', os: 'Android' }
    }
  }
}

/**
 * The OpenAPI 3 document, made from the routes' own schemas, at /openapi.json, and Swagger UI at
 * /docs (its files are served from the package: it works offline).
 */
async function docs (app: FastifyInstance, opts: { version: string, apiKey: boolean }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'sessions',
        version: opts.version,
        description: 'Create, look up, list and end user sessions. Every answer is an envelope: ' +
          '`{"status": "success", "data": ...}` or `{"status": "error", "code": "...", "message": "..."}`. ' +
          'Each endpoint answers GET and POST alike, with its parameters in the query string.'
      },
      tags: [
        { name: 'sessions', description: 'The session API' },
        { name: 'events', description: 'What happens to sessions, as a Server-Sent Events stream or pages' },
        { name: 'probes', description: 'Liveness and readiness, for orchestrators' }
      ],
      // Declared only where the service asks for it: with API_KEY set.
      components: opts.apiKey
        ? {
            securitySchemes: {
              apiKey: { type: 'http', scheme: 'bearer', description: 'The service\'s API_KEY, required on the session API.' }
            }
          }
        : {}
    },
    hideUntagged: true,
    transformObject: (documentObject) => {
      const document = (documentObject as { openapiObject: OpenAPIV3.Document }).openapiObject
      for (const url of EXTRA_ROUTES) {
        const post = document.paths[url]?.post
        if (post !== undefined) post.requestBody = extraBody
      }
      return document
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}

export default fp(docs, { name: 'docs', fastify: '5.x' })

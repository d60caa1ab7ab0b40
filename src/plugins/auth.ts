import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ApiError } from '../api/errors.js'

const BEARER = /^Bearer[ \t]+([!-~]+)[ \t]*$/i

const digest = (text: string): Buffer => createHash('sha256').update(text).digest()

/**
 * Every request in the scope this plugin is registered in must carry `Authorization: Bearer <key>`;
 * otherwise 401 unauthorized. Keys are compared as SHA-256 digests
 * in constant time, so neither the key's content nor its length leaks through timing.
 */
async function auth (app: FastifyInstance, opts: { apiKey: string }): Promise<void> {
  const expected = digest(opts.apiKey)

  app.addHook('onRequest', async (request, reply) => {
    const given = BEARER.exec(request.headers.authorization ?? '')?.[1]
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return
    reply.header('www-authenticate', 'Bearer')
    throw new ApiError('unauthorized')
  })
}

export default fp(auth, { name: 'auth', fastify: '5.x' })

import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/store/sessions-store.js'
import { apiError, buildApp, call, newSession, ok } from '../support/app.js'

let app: FastifyInstance
beforeAll(async () => { app = await buildApp() })
afterAll(async () => { await app.close() })

describe('/del', () => {
  it('deletes a session and returns it', async () => {
    const session = await newSession(app, undefined, undefined, { a: 1 })
    const res = await call(app, { method: 'GET', url: `/del?token=${session.token}` })
    expect(res).toEqual({ statusCode: 200, body: { status: 'success', data: session } })

    for (const url of [`/get?token=${session.token}`, `/del?token=${session.token}`]) {
      const gone = await call(app, { url })
      expect(gone.statusCode).toBe(404)
      expect(gone.body).toEqual(apiError('token_not_found'))
    }
    expect(await ok<Session[]>(app, { url: `/user?id=${session.user_id}` })).toEqual([])
  })

  it('answers POST like GET', async () => {
    const session = await newSession(app)
    expect(await ok(app, { method: 'POST', url: `/del?token=${session.token}` })).toEqual(session)
  })

  it.each([
    ['an unknown token', `token=${randomUUID()}`],
    ['a malformed token', 'token=abc'],
    ['a token that is not a v4 uuid', 'token=ffffffff-ffff-ffff-ffff-ffffffffffff'],
    ['no token', '']
  ])('answers token_not_found for %s', async (_what, query) => {
    const res = await call(app, { url: `/del?${query}` })
    expect(res.statusCode).toBe(404)
    expect(res.body).toEqual(apiError('token_not_found'))
  })
})

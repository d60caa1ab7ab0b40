import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/store/types.js'
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

  it('ends a session by its id exactly as by its token', async () => {
    const session = await newSession(app, undefined, undefined, { device: 'Nexus 5' })
    const [listed] = await ok<Session[]>(app, { url: `/user?id=${session.user_id}` })
    expect(listed.id).toBe(session.id)
    expect(await call(app, { url: `/del?id=${session.id}` })).toEqual({ statusCode: 200, body: { status: 'success', data: session } })
    expect(await call(app, { url: `/get?token=${session.token}` })).toEqual({ statusCode: 404, body: apiError('token_not_found') })
    expect(await call(app, { url: `/del?id=${session.id}` })).toEqual({ statusCode: 404, body: apiError('token_not_found') })
  })

  it('gives ids that do not hold the token', async () => {
    const session = await newSession(app)
    const idBytes = Buffer.from(session.id, 'base64url')
    const tokenBytes = Buffer.from(session.token.replaceAll('-', ''), 'hex')
    expect(idBytes).toHaveLength(16)
    expect(idBytes.equals(tokenBytes)).toBe(false)
    expect(session.id).not.toContain(session.token.slice(0, 8))
    // Stable: every answer names the session by the same id.
    expect((await ok(app, { url: `/get?token=${session.token}` })).id).toBe(session.id)
  })

  it.each([
    ['an unknown id', 'AAAAAAAAAAAAAAAAAAAAAA'],
    ['a malformed id', 'abc'],
    ['an id of the wrong spelling', 'AAAAAAAAAAAAAAAAAAAAAB'],
    ['an empty id', '']
  ])('answers token_not_found for %s', async (_what, id) => {
    expect(await call(app, { url: `/del?id=${id}` })).toEqual({ statusCode: 404, body: apiError('token_not_found') })
  })

  it('answers token_not_found for a repeated id, as for a repeated token', async () => {
    const session = await newSession(app)
    for (const query of [`id=${session.id}&id=${session.id}`, `token=${session.token}&token=${session.token}`]) {
      expect(await call(app, { url: `/del?${query}` }), query).toEqual({ statusCode: 404, body: apiError('token_not_found') })
    }
  })

  it('refuses a token and an id together, ending neither', async () => {
    const session = await newSession(app)
    expect(await call(app, { url: `/del?token=${session.token}&id=${session.id}` })).toEqual({ statusCode: 400, body: apiError('bad_request') })
    expect(await ok(app, { url: `/get?token=${session.token}` })).toMatchObject({ id: session.id })
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

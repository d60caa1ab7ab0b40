import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Session } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueIp, uniqueUserId, UUID_V4 } from '../support/app.js'

let app: FastifyInstance
beforeAll(async () => { app = await buildApp() })
afterAll(async () => { await app.close() })

const notFound = { statusCode: 404, body: apiError('token_not_found') }

describe('/rotate', () => {
  it('gives the session a new token and keeps everything else; the old token stops at once', async () => {
    const userId = uniqueUserId()
    const ip = uniqueIp()
    const before = await newSession(app, userId, ip, { device: 'Nexus 5' })
    const rotated = await ok(app, { url: `/rotate?token=${before.token}` })
    expect(rotated).toEqual({ ...before, token: expect.stringMatching(UUID_V4), activity: expect.any(Number), expires: expect.any(Number) })
    expect(rotated.token).not.toBe(before.token)
    expect(rotated.activity).toBeGreaterThanOrEqual(before.activity)
    expect(rotated.expires).toBe(rotated.activity + 180 * 24 * 3600)
    expect(await call(app, { url: `/get?token=${before.token}` })).toEqual(notFound)
    expect(await call(app, { url: `/rotate?token=${before.token}` })).toEqual(notFound)
    expect(await ok(app, { url: `/get?token=${rotated.token}` })).toMatchObject({ id: before.id, token: rotated.token, extra: { device: 'Nexus 5' } })
    // Listed once, under the same id.
    expect(await ok<Session[]>(app, { url: `/user?id=${userId}` })).toEqual([{ ...rotated, activity: expect.any(Number), expires: expect.any(Number) }])
    expect(await ok<Session[]>(app, { url: `/ip?ip=${ip}` })).toHaveLength(1)
  })

  it('keeps the id through many rotations: /del?id= and except_id still name the session', async () => {
    const userId = uniqueUserId()
    const first = await newSession(app, userId)
    const other = await newSession(app, userId)
    let token = first.token
    for (let i = 0; i < 3; i++) {
      const next = await ok(app, { method: i % 2 === 0 ? 'GET' : 'POST', url: `/rotate?token=${token}` })
      expect(next.id).toBe(first.id)
      token = next.token
    }
    expect(await ok(app, { url: `/del_user?id=${userId}&except_id=${first.id}` })).toEqual({ deleted: 1 })
    expect(await call(app, { url: `/get?token=${other.token}` })).toEqual(notFound)
    expect(await ok(app, { url: `/del?id=${first.id}` })).toMatchObject({ id: first.id, user_id: userId })
    expect(await call(app, { url: `/get?token=${token}` })).toEqual(notFound)
    expect(await call(app, { url: `/del?id=${first.id}` })).toEqual(notFound)
  })

  it('keeps the session named by except after a rotation', async () => {
    const userId = uniqueUserId()
    const mine = await newSession(app, userId)
    await newSession(app, userId)
    const rotated = await ok(app, { url: `/rotate?token=${mine.token}` })
    expect(await ok(app, { url: `/del_user?id=${userId}&except=${rotated.token}` })).toEqual({ deleted: 1 })
    expect((await ok(app, { url: `/get?token=${rotated.token}` })).id).toBe(mine.id)
  })

  it('lets the old token work for the grace, then not', async () => {
    const before = await newSession(app)
    const rotated = await ok(app, { url: `/rotate?token=${before.token}&grace=2` })
    // Within the grace, the old token opens the session (and answers with the token it was sent).
    expect(await ok(app, { url: `/get?token=${before.token}` })).toMatchObject({ id: before.id, token: before.token })
    // It cannot rotate again: that would fork the session.
    expect(await call(app, { url: `/rotate?token=${before.token}` })).toEqual(notFound)
    await vi.waitFor(async () => {
      expect(await call(app, { url: `/get?token=${before.token}` })).toEqual(notFound)
    }, { timeout: 5000, interval: 200 })
    expect((await ok(app, { url: `/get?token=${rotated.token}` })).id).toBe(before.id)
  })

  it('ends the session by an old token within its grace', async () => {
    const before = await newSession(app)
    const rotated = await ok(app, { url: `/rotate?token=${before.token}&grace=30` })
    expect(await ok(app, { url: `/del?token=${before.token}` })).toMatchObject({ id: before.id })
    expect(await call(app, { url: `/get?token=${rotated.token}` })).toEqual(notFound)
    expect(await call(app, { url: `/get?token=${before.token}` })).toEqual(notFound)
  })

  it('keeps a session\'s own ttl and lifetime', async () => {
    const created = await ok(app, { url: `/new?user_id=${uniqueUserId()}&ip=10.0.0.1&ttl=600&lifetime=3600` })
    expect(created.expires).toBe(created.activity + 600)
    const rotated = await ok(app, { url: `/rotate?token=${created.token}` })
    expect(rotated.expires).toBe(Math.min(rotated.activity + 600, created.create + 3600))
  })

  it('gives each of many concurrent rotations of one session its own outcome: one wins', async () => {
    const before = await newSession(app)
    const replies = await Promise.all(Array.from({ length: 20 }, async () => await call<Session>(app, { url: `/rotate?token=${before.token}` })))
    const won = replies.filter((r) => r.statusCode === 200)
    expect(won).toHaveLength(1)
    for (const r of replies) if (r.statusCode !== 200) expect(r).toEqual(notFound)
    const winner = (won[0].body as { data: Session }).data
    expect((await ok(app, { url: `/get?token=${winner.token}` })).id).toBe(before.id)
  })

  it.each(['61', '-1', '1.5', 'x', ''])('refuses grace=%s', async (grace) => {
    const before = await newSession(app)
    expect(await call(app, { url: `/rotate?token=${before.token}&grace=${grace}` })).toEqual({ statusCode: 400, body: apiError('invalid_grace') })
    expect((await ok(app, { url: `/get?token=${before.token}` })).id).toBe(before.id)
  })

  it('answers token_not_found for an unknown or malformed token, and for none', async () => {
    expect(await call(app, { url: `/rotate?token=${crypto.randomUUID()}` })).toEqual(notFound)
    expect(await call(app, { url: '/rotate?token=nope' })).toEqual(notFound)
    expect(await call(app, { url: '/rotate' })).toEqual(notFound)
  })
})

import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueIp, uniqueUserId } from '../support/app.js'

let app: FastifyInstance
beforeAll(async () => { app = await buildApp() })
afterAll(async () => { await app.close() })

describe('/del_ip', () => {
  it('ends every session at the address and no other', async () => {
    const ip = uniqueIp()
    const here = await Promise.all(Array.from({ length: 4 }, async () => await newSession(app, uniqueUserId(), ip)))
    const elsewhere = await newSession(app)
    expect(await call(app, { url: `/del_ip?ip=${ip}` })).toEqual({ statusCode: 200, body: { status: 'success', data: { deleted: 4 } } })
    for (const s of here) expect((await call(app, { url: `/get?token=${s.token}` })).statusCode).toBe(404)
    expect(await ok<Session[]>(app, { url: `/ip?ip=${ip}` })).toEqual([])
    expect((await ok(app, { url: `/get?token=${elsewhere.token}` })).id).toBe(elsewhere.id)
  })

  it('finds IPv6 sessions whatever form the address is written in', async () => {
    const session = await newSession(app, uniqueUserId(), '2001:db8:77::5')
    expect(await ok(app, { url: '/del_ip?ip=2001:DB8:77:0:0:0:0:5' })).toEqual({ deleted: 1 })
    expect((await call(app, { url: `/get?token=${session.token}` })).statusCode).toBe(404)
  })

  it.each(['', 'ip=abc', 'ip=1.2.3'])('refuses %j with invalid_ip', async (query) => {
    expect(await call(app, { url: `/del_ip?${query}` })).toEqual({ statusCode: 400, body: apiError('invalid_ip') })
  })
})

import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Session } from '../../src/store/sessions-store.js'
import { apiError, buildApp, call, newSession, ok, uniqueIp, uniqueUserId } from '../support/app.js'

let app: FastifyInstance
beforeAll(async () => { app = await buildApp() })
afterAll(async () => { await app.close() })

// Groups of 1 to 0xfffe: a 0 group would be stored shortened (2001:db8:0::1 is 2001:db8::1).
const group = (): string => (1 + Math.floor(Math.random() * 0xfffe)).toString(16)
const randomIpv6 = (): string => `2001:db8:${group()}::${group()}`

describe('/ip', () => {
  it('lists all sessions at that ip, newest activity first', async () => {
    const ip = uniqueIp()
    const first = await newSession(app, uniqueUserId(), ip)
    const second = await newSession(app, uniqueUserId(), ip)
    await newSession(app)
    let touched: Session = first
    await vi.waitFor(async () => {
      touched = await ok(app, { url: `/get?token=${first.token}` })
      expect(touched.activity).toBeGreaterThan(second.activity)
    }, { timeout: 5000, interval: 200 })

    expect(await ok<Session[]>(app, { url: `/ip?ip=${ip}` })).toEqual([touched, second])
    expect(await ok<Session[]>(app, { method: 'POST', url: `/ip?ip=${ip}` })).toEqual([touched, second])
  })

  it('finds IPv6 sessions whatever form the address is written in', async () => {
    const ip = randomIpv6()
    const session = await newSession(app, uniqueUserId(), ip.toUpperCase())
    const expanded = ip.replace('::', ':0:0:0:0:')
    expect(session.ip).toBe(ip)
    expect(await ok<Session[]>(app, { url: '/ip', query: { ip: expanded } })).toEqual([session])
  })

  it('answers [] for an ip without sessions', async () => {
    expect(await ok(app, { url: `/ip?ip=${randomIpv6()}` })).toEqual([])
  })

  it.each(['1.2.3', 'localhost', '', '::g'])('rejects ip %j with invalid_ip', async (ip) => {
    const res = await call(app, { url: '/ip', query: { ip } })
    expect(res.statusCode).toBe(400)
    expect(res.body).toEqual(apiError('invalid_ip'))
  })

  it('rejects a missing ip with invalid_ip', async () => {
    const res = await call(app, { url: '/ip' })
    expect(res.statusCode).toBe(400)
    expect(res.body).toEqual(apiError('invalid_ip'))
  })
})

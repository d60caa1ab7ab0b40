import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Session } from '../../src/store/types.js'
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

  it('keeps an IPv6 address with an embedded dotted quad IPv6, in one notation; only ::ffff:0:0/96 is IPv4', async () => {
    const byte = (): number => 1 + Math.floor(Math.random() * 254)
    const [a, b, c, d] = [byte(), byte(), byte(), byte()]
    const hex = (x: number, y: number): string => ((x << 8) | y).toString(16)
    const compatible = await newSession(app, uniqueUserId(), `::${a}.${b}.${c}.${d}`)
    expect(compatible.ip).toBe(`::${hex(a, b)}:${hex(c, d)}`)
    const mapped = await newSession(app, uniqueUserId(), `::ffff:${hex(a, b)}:${hex(c, d)}`)
    expect(mapped.ip).toBe(`${a}.${b}.${c}.${d}`)
    for (const ip of [`::${a}.${b}.${c}.${d}`, `::${hex(a, b)}:${hex(c, d)}`, `0:0:0:0:0:0:${a}.${b}.${c}.${d}`]) {
      expect(await ok<Session[]>(app, { url: '/ip', query: { ip } })).toEqual([compatible])
    }
    for (const ip of [`${a}.${b}.${c}.${d}`, `::ffff:${a}.${b}.${c}.${d}`, `::ffff:${hex(a, b)}:${hex(c, d)}`]) {
      expect(await ok<Session[]>(app, { url: '/ip', query: { ip } })).toEqual([mapped])
    }
    expect(await ok(app, { url: '/del_ip', query: { ip: `::${hex(a, b)}:${hex(c, d)}` } })).toEqual({ deleted: 1 })
    expect(await ok(app, { url: '/del_ip', query: { ip: `::ffff:${a}.${b}.${c}.${d}` } })).toEqual({ deleted: 1 })
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

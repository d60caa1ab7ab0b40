// The session cookie: its Max-Age from the session's `expires`, its attributes, and adding it to
// Node's and Fastify's responses without losing the cookies set before.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { clearSessionCookie, cookieOptions, maxAgeOf, sessionCookie, setSessionCookie } from '../../client/src/index.js'
import { uniqueIp, uniqueUserId } from '../support/app.js'
import { useServedClient } from '../support/client.js'

const the = useServedClient()

const now = (): number => Date.now() / 1000

describe('session cookie', () => {
  it('Max-Age is the whole seconds until the session\'s expires: its ttl, or its lifetime when sooner', async () => {
    const idle = await the.client.create(uniqueUserId(), uniqueIp(), null, { ttl: 100 })
    expect(maxAgeOf(idle)).toBeGreaterThanOrEqual(97)
    expect(maxAgeOf(idle)).toBeLessThanOrEqual(100)
    const short = await the.client.create(uniqueUserId(), uniqueIp(), null, { ttl: 1000, lifetime: 30 })
    expect(maxAgeOf(short)).toBeGreaterThanOrEqual(27)
    expect(maxAgeOf(short)).toBeLessThanOrEqual(30)
    expect(sessionCookie(short)).toBe(`session=${short.token}; Max-Age=${maxAgeOf(short)}; Path=/; HttpOnly; Secure; SameSite=Lax`)
  })

  it('is rounded down and never negative', () => {
    expect(maxAgeOf({ expires: Math.floor(now()) + 10 })).toBeLessThanOrEqual(10)
    expect(maxAgeOf({ expires: now() + 10.9 })).toBeLessThanOrEqual(10)
    expect(Number.isInteger(maxAgeOf({ expires: now() + 10.5 }))).toBe(true)
    expect(maxAgeOf({ expires: Math.floor(now()) - 3600 })).toBe(0)
    expect(sessionCookie({ token: 't', expires: 0 })).toBe('session=t; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax')
  })

  it('takes its name and attributes from the options', () => {
    const session = { token: 'a b', expires: Math.floor(now()) + 60 }
    expect(cookieOptions(session, { secure: false, sameSite: 'Strict', path: '/app', domain: 'example.com' }))
      .toEqual({ maxAge: expect.any(Number), httpOnly: true, secure: false, sameSite: 'Strict', path: '/app', domain: 'example.com' })
    expect(sessionCookie(session, { name: 'sid', httpOnly: false, secure: false, sameSite: 'Strict', domain: 'example.com' }))
      .toMatch(/^sid=a%20b; Max-Age=(59|60); Domain=example\.com; Path=\/; SameSite=Strict$/)
  })

  it('is added to a Node response and to a Fastify reply after the cookies set before; clearSessionCookie removes it', async () => {
    const session = await the.client.create(uniqueUserId(), uniqueIp())
    const server = createServer((_req, res) => {
      res.setHeader('set-cookie', 'theme=dark')
      setSessionCookie(res, session)
      res.end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
      await res.text()
      expect(res.headers.getSetCookie()).toEqual(['theme=dark', expect.stringMatching(new RegExp(`^session=${session.token}; Max-Age=\\d+; Path=/; HttpOnly; Secure; SameSite=Lax$`))])
    } finally {
      await new Promise((resolve) => { server.close(resolve); server.closeAllConnections() })
    }

    const app = Fastify()
    app.get('/', async (_request, reply) => {
      reply.header('set-cookie', 'theme=dark')
      setSessionCookie(reply, session, { name: 'sid' })
      clearSessionCookie(reply)
      return 'ok'
    })
    const res = await app.inject({ url: '/' })
    expect(res.headers['set-cookie']).toEqual([
      'theme=dark',
      expect.stringMatching(/^sid=[0-9a-f-]{36}; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/),
      'session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax'
    ])
    await app.close()
  })
})

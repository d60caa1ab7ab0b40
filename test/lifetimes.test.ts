// Per-session ttl and lifetime, and exact expiry: on an instance of its own whose sweep runs once
// a day, so that every check here is the read side's, never the sweep's.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Session } from '../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, uniqueIp, uniqueUserId } from './support/app.js'
import { startTarantool, type TestTarantool } from './support/tarantool.js'

const TTL = 3
const DAY = 86400
let tarantool: TestTarantool
let app: FastifyInstance

async function settled (): Promise<void> {
  await vi.waitFor(async () => {
    expect(await app.store.stats()).toMatchObject({ ttl: TTL, sweep_interval: DAY })
  }, { timeout: 5000, interval: 50 })
}

beforeAll(async () => {
  tarantool = await startTarantool()
  app = await buildApp({ uri: tarantool.uri, env: { SESSION_TTL_SECONDS: String(TTL), SWEEP_INTERVAL_SECONDS: String(DAY) } })
  await settled()
})
afterAll(async () => {
  await app?.close()
  await tarantool?.stop()
})

const notFound = { statusCode: 404, body: apiError('token_not_found') }

/** Waits until the second `second` has begun, by the clock Tarantool and the service share. */
async function until (second: number): Promise<void> {
  const wait = second * 1000 - Date.now()
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait + 20))
}

/** Whether a session is answered, listed and counted, without using it (no /get). */
async function visible (s: Session, userId: number, ip: string): Promise<boolean> {
  const byUser = await ok<Session[]>(app, { url: `/user?id=${userId}` })
  const byIp = await ok<Session[]>(app, { url: `/ip?ip=${ip}` })
  const inUser = byUser.some((x) => x.id === s.id)
  expect(byIp.some((x) => x.id === s.id)).toBe(inUser)
  return inUser
}

describe('ttl and lifetime', () => {
  it('answers expires on every endpoint: activity + the TTL for a seed session', async () => {
    const s = await newSession(app)
    expect(s.expires).toBe(s.activity + TTL)
    const own = await ok(app, { url: '/new?user_id=1&ip=10.0.0.1&ttl=100&lifetime=50' })
    expect(own.expires).toBe(own.create + 50)
    const shorter = await ok(app, { url: '/new?user_id=1&ip=10.0.0.1&ttl=40&lifetime=50' })
    expect(shorter.expires).toBe(shorter.create + 40)
    expect((await ok(app, { url: `/get?token=${own.token}` })).expires).toBe(own.create + 50)
    expect((await ok<Session[]>(app, { url: '/user?id=1' })).every((x) => typeof x.expires === 'number')).toBe(true)
  })

  it('never answers, lists or counts a session from its expires on, with the sweep far away', async () => {
    const userId = uniqueUserId()
    const ip = uniqueIp()
    const seed = await newSession(app, userId, ip)
    const short = await ok(app, { url: `/new?user_id=${userId}&ip=${ip}&ttl=1` })
    const long = await ok(app, { url: `/new?user_id=${userId}&ip=${ip}&ttl=3600` })
    expect(short.expires).toBe(short.activity + 1)
    // Before: all three visible.
    expect(await visible(short, userId, ip)).toBe(true)
    await until(short.expires)
    expect(await visible(short, userId, ip)).toBe(false)
    expect(await call(app, { url: `/get?token=${short.token}` })).toEqual(notFound)
    await until(seed.expires)
    expect(await visible(seed, userId, ip)).toBe(false)
    expect(await call(app, { url: `/get?token=${seed.token}` })).toEqual(notFound)
    expect(await call(app, { url: `/del?token=${seed.token}` })).toEqual(notFound)
    expect(await call(app, { url: `/rotate?token=${short.token}` })).toEqual(notFound)
    // The long one outlives the TTL setting.
    expect(await visible(long, userId, ip)).toBe(true)
    // Still stored (the sweep has not run since): only the read side hid them.
    const stats = await app.store.stats()
    expect(stats.expiry.expired).toBe(0)
    // Counted as ended: the one live only.
    expect(await ok(app, { url: `/del_user?id=${userId}` })).toEqual({ deleted: 1 })
  })

  it('ends a session at create + lifetime however much it is used', async () => {
    const s = await ok(app, { url: '/new?user_id=2&ip=10.0.0.2&ttl=600&lifetime=2' })
    expect(s.expires).toBe(s.create + 2)
    while (Date.now() < (s.create + 2) * 1000 - 300) {
      expect((await ok(app, { url: `/get?token=${s.token}` })).expires).toBe(s.create + 2)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    await until(s.create + 2)
    expect(await call(app, { url: `/get?token=${s.token}` })).toEqual(notFound)
  })

  it('moves expires with use for a session with its own ttl', async () => {
    const s = await ok(app, { url: '/new?user_id=3&ip=10.0.0.3&ttl=2' })
    await until(s.activity + 1)
    const used = await ok(app, { url: `/get?token=${s.token}` })
    expect(used.expires).toBe(used.activity + 2)
    await until(s.expires)
    expect((await ok(app, { url: `/get?token=${s.token}` })).id).toBe(s.id)
  })

  it.each([
    ['ttl', '0'], ['ttl', '315360001'], ['ttl', '-5'], ['ttl', '1.5'], ['ttl', 'x'], ['ttl', ''],
    ['lifetime', '0'], ['lifetime', '315360001'], ['lifetime', '9999999999'], ['lifetime', 'abc']
  ])('refuses %s=%s', async (name, value) => {
    const userId = uniqueUserId()
    expect(await call(app, { url: `/new?user_id=${userId}&ip=10.0.0.4&${name}=${value}` }))
      .toEqual({ statusCode: 400, body: apiError(`invalid_${name}`) })
    expect(await ok<Session[]>(app, { url: `/user?id=${userId}` })).toEqual([])
  })

  it('takes the largest ttl and lifetime', async () => {
    const s = await ok(app, { url: '/new?user_id=4&ip=10.0.0.4&ttl=315360000&lifetime=315360000' })
    expect(s.expires).toBe(s.create + 315360000)
  })
})

describe('the sweep', () => {
  it('deletes sessions with their own ttl when due, and passes over long ones once, not at every pass', async () => {
    const sweeping = await buildApp({ uri: tarantool.uri, env: { SESSION_TTL_SECONDS: String(TTL), SWEEP_INTERVAL_SECONDS: '1' } })
    try {
      const userId = uniqueUserId()
      // Longer than the TTL setting: met by every walk of the activity index once idle past it.
      const long = await Promise.all(Array.from({ length: 300 }, async () => await ok(sweeping, { url: `/new?user_id=${userId}&ip=10.0.0.5&ttl=3600` })))
      const short = await Promise.all(Array.from({ length: 150 }, async () => await ok(sweeping, { url: `/new?user_id=${userId}&ip=10.0.0.5&ttl=1` })))
      const before = (await sweeping.store.stats()).expiry
      await vi.waitFor(async () => {
        expect((await sweeping.store.stats()).expiry.expired - before.expired).toBeGreaterThanOrEqual(short.length)
      }, { timeout: 8000, interval: 200 })
      expect(await ok<Session[]>(sweeping, { url: `/user?id=${userId}` })).toHaveLength(long.length)
      // Idle past the TTL setting, the long ones are met by the walk: once, then passed over.
      await until(long[long.length - 1].activity + TTL + 1)
      const passes = async (n: number): Promise<void> => {
        const from = (await sweeping.store.stats()).expiry.passes
        await vi.waitFor(async () => {
          expect((await sweeping.store.stats()).expiry.passes - from).toBeGreaterThanOrEqual(n)
        }, { timeout: 8000, interval: 100 })
      }
      await passes(2)
      const first = (await sweeping.store.stats()).expiry
      await passes(3)
      const later = (await sweeping.store.stats()).expiry
      // Each pass meets at most what became due since: none of the long ones again.
      expect((later.scanned ?? 0) - (first.scanned ?? 0)).toBeLessThan(30)
      expect(await ok<Session[]>(sweeping, { url: `/user?id=${userId}` })).toHaveLength(long.length)
    } finally {
      await sweeping.close()
      await buildApp({ uri: tarantool.uri, env: { SESSION_TTL_SECONDS: String(TTL), SWEEP_INTERVAL_SECONDS: String(DAY) } }).then(async (a) => await a.close())
    }
  })
})

describe('a change of SESSION_TTL_SECONDS', () => {
  it('applies to the sessions created without ttl as soon as the service restarts with it', async () => {
    const userId = uniqueUserId()
    const longer = await buildApp({ uri: tarantool.uri, env: { SESSION_TTL_SECONDS: '3600', SWEEP_INTERVAL_SECONDS: String(DAY) } })
    let seed: Session
    let own: Session
    try {
      seed = await newSession(longer, userId)
      own = await ok(longer, { url: `/new?user_id=${userId}&ip=10.0.0.6&ttl=3600` })
      expect(seed.expires).toBe(seed.activity + 3600)
    } finally {
      await longer.close()
    }
    // The shared app still runs: its settings go in again when a service connects.
    const shorter = await buildApp({ uri: tarantool.uri, env: { SESSION_TTL_SECONDS: String(TTL), SWEEP_INTERVAL_SECONDS: String(DAY) } })
    try {
      expect((await ok<Session[]>(shorter, { url: `/user?id=${userId}` })).find((x) => x.id === seed.id)?.expires).toBe(seed.activity + TTL)
      await until(seed.activity + TTL)
      expect(await call(shorter, { url: `/get?token=${seed.token}` })).toEqual(notFound)
      expect((await ok(shorter, { url: `/get?token=${own.token}` })).id).toBe(own.id)
    } finally {
      await shorter.close()
    }
  })
})

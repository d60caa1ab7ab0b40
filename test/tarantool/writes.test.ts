// /get writes to the WAL only when something changes; on an instance of its own, so that no other
// test's writes move the log sequence number. A new activity alone is written a moment after the
// answer, with others (test/tarantool/activity.test.ts has the details).
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildApp, newSession, ok } from '../support/app.js'
import { startTarantool, type TestTarantool } from '../support/tarantool.js'

let tarantool: TestTarantool
let app: FastifyInstance
beforeAll(async () => {
  tarantool = await startTarantool()
  app = await buildApp({ uri: tarantool.uri })
  await vi.waitFor(async () => { expect((await app.store.stats()).ttl).toBe(180 * 24 * 3600) }, { timeout: 5000, interval: 50 })
})
afterAll(async () => {
  await app?.close()
  await tarantool?.stop()
})

const lsn = async (): Promise<number> => (await app.store.stats()).lsn
// Longer than Tarantool takes to write marks of use (every 0.1 s).
const FLUSHED_MS = 300
const ATTEMPTS = 3

/**
 * Runs `attempt` from just after a second begins, with that second. Activity has a resolution of
 * one second, so an attempt during which the clock crossed a second may rightly write a new one:
 * only such an attempt is run again (at most ATTEMPTS in all). Any other failure fails at once, so
 * that an extra write that happens only sometimes cannot pass on a later, clean attempt.
 */
async function withinOneSecond (attempt: (second: number) => Promise<void>): Promise<void> {
  for (let n = 1; ; n++) {
    await sleep(1000 - (Date.now() % 1000) + 50)
    const second = Math.floor(Date.now() / 1000)
    let failure: unknown
    let failed = false
    try {
      await attempt(second)
    } catch (err) {
      failure = err
      failed = true
    }
    // Checked before the outcome, as a crossing can also make the attempt fail.
    if (Math.floor(Date.now() / 1000) === second) {
      if (failed) throw failure
      return
    }
    if (n === ATTEMPTS) throw new Error(`the clock crossed a second in each of ${ATTEMPTS} attempts`)
  }
}

describe('writes of /get', () => {
  it('writes nothing when activity, ip and extra stay the same', async () => {
    const session = await newSession(app, 1, '192.0.2.1', { a: 1, nested: { b: [1, 2] }, n: null })
    await withinOneSecond(async () => {
      // This second's activity is new: written once, a moment later.
      const start = await lsn()
      await ok(app, { url: `/get?token=${session.token}` })
      await vi.waitFor(async () => { expect(await lsn()).toBe(start + 1) }, { timeout: 5000, interval: 10 })
      await ok(app, { url: `/get?token=${session.token}&ip=192.0.2.1`, payload: { a: 1, nested: { b: [1, 2] }, n: null } })
      await ok(app, { url: `/get?token=${session.token}`, payload: {} })
      await sleep(FLUSHED_MS)
      expect(await lsn()).toBe(start + 1)
    })
  })

  it('writes a new activity once, however often the session is used in that second', async () => {
    const session = await newSession(app, 3, '192.0.2.4')
    // Each attempt is in a later second than the session's activity: used there several times.
    await withinOneSecond(async (second) => {
      const before = await lsn()
      for (let i = 0; i < 5; i++) expect((await ok<{ activity: number }>(app, { url: `/get?token=${session.token}` })).activity).toBe(second)
      await vi.waitFor(async () => { expect(await lsn()).toBe(before + 1) }, { timeout: 5000, interval: 10 })
      await sleep(FLUSHED_MS)
      expect(await lsn()).toBe(before + 1)
    })
  })

  it('writes when the ip or the extra change', async () => {
    const session = await newSession(app, 2, '192.0.2.2', { a: 1 })
    for (const change of [{ url: `/get?token=${session.token}&ip=192.0.2.3` }, { url: `/get?token=${session.token}`, payload: { a: 2 } }, { url: `/get?token=${session.token}`, payload: { b: null } }]) {
      const before = await lsn()
      await ok(app, change)
      expect(await lsn()).toBeGreaterThan(before)
    }
    expect((await ok(app, { url: `/get?token=${session.token}` })).extra).toEqual({ a: 2, b: null })
  })
})

// Pages of /user and /ip: limits, cursors, order, and walks while other sessions come and go.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/store/types.js'
import { apiError, buildApp, call, newSession, uniqueIp, uniqueUserId } from '../support/app.js'

interface Page { status: 'success', data: Session[], next: string | null }

let app: FastifyInstance
let small: FastifyInstance
beforeAll(async () => {
  app = await buildApp()
  small = await buildApp({ env: { LIST_LIMIT: '3' } })
})
afterAll(async () => {
  await app.close()
  await small.close()
})

async function page (on: FastifyInstance, url: string): Promise<Page> {
  const res = await call(on, { url })
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${JSON.stringify(res.body)}`)
  return res.body as unknown as Page
}

/** Every page of a list from the first, with `query` added to each request. */
async function walk (on: FastifyInstance, list: string, query = '', between?: () => Promise<void>): Promise<Page[]> {
  const pages: Page[] = []
  let after: string | null = null
  do {
    const url: string = `${list}${query}${after === null ? '' : `&after=${encodeURIComponent(after)}`}`
    const current: Page = await page(on, url)
    pages.push(current)
    after = current.next
    await between?.()
  } while (after !== null && pages.length < 1000)
  return pages
}

/** Whether a list is in the API's order: newest activity first. */
function newestFirst (sessions: Session[]): boolean {
  return sessions.every((s, i) => i === 0 || sessions[i - 1].activity >= s.activity)
}

const byId = (a: Session, b: Session): number => a.id.localeCompare(b.id)

interface ListKind {
  name: string
  listOf: (key: string) => string
  keyOf: () => string
  create: (on: FastifyInstance, key: string) => Promise<Session>
}

const KINDS: ListKind[] = [
  { name: '/user', listOf: (key) => `/user?id=${key}`, keyOf: () => String(uniqueUserId()), create: async (on, key) => await newSession(on, Number(key)) },
  { name: '/ip', listOf: (key) => `/ip?ip=${key}`, keyOf: uniqueIp, create: async (on, key) => await newSession(on, uniqueUserId(), key) }
]

describe.each(KINDS)('$name pages', ({ listOf, keyOf, create }) => {
  it('answers at most LIST_LIMIT sessions without limit, and every session once over the pages', async () => {
    const key = keyOf()
    const created = await Promise.all(Array.from({ length: 7 }, async () => await create(small, key)))
    const pages = await walk(small, listOf(key))
    expect(pages.map((p) => p.data.length)).toEqual([3, 3, 1])
    expect(pages.map((p) => p.next === null)).toEqual([false, false, true])
    const all = pages.flatMap((p) => p.data)
    expect(newestFirst(all)).toBe(true)
    expect([...all].sort(byId)).toEqual([...created].sort(byId))
  })

  it('takes limit from 1 to 1000, the next cursor a string until the last page', async () => {
    const key = keyOf()
    const created = await Promise.all(Array.from({ length: 5 }, async () => await create(app, key)))
    const one = await walk(app, listOf(key), '&limit=1')
    expect(one.map((p) => p.data.length)).toEqual([1, 1, 1, 1, 1])
    expect(one.map((p) => typeof p.next)).toEqual(['string', 'string', 'string', 'string', 'object'])
    const whole = await page(app, `${listOf(key)}&limit=1000`)
    expect(whole).toEqual({ status: 'success', data: one.flatMap((p) => p.data), next: null })
    // Exactly a page full: the next page is empty, and says it is the last.
    const exact = await page(app, `${listOf(key)}&limit=5`)
    expect(exact.next).toBe(null)
    expect([...exact.data].sort(byId)).toEqual([...created].sort(byId))
  })

  it.each(['0', '1001', '-1', '1.5', 'abc', '', '99999'])('rejects limit %j with invalid_limit', async (limit) => {
    const res = await call(app, { url: `${listOf(keyOf())}&limit=${limit}` })
    expect(res).toEqual({ statusCode: 400, body: apiError('invalid_limit') })
  })

  it('rejects cursors that are malformed, altered, or from another list, with invalid_cursor', async () => {
    const key = keyOf()
    await Promise.all(Array.from({ length: 3 }, async () => await create(app, key)))
    const { next } = await page(app, `${listOf(key)}&limit=1`)
    expect(next).toEqual(expect.any(String))
    const cursor = next as string
    const flipped = cursor.slice(0, 5) + (cursor[5] === 'A' ? 'B' : 'A') + cursor.slice(6)
    const otherList = (await page(app, `${listOf(keyOf())}&limit=1`)).next
    const userCursor = (await page(app, `/user?id=${uniqueUserId()}&limit=1`)).next
    for (const bad of ['abc', flipped, cursor.slice(0, -1), `${cursor}A`, '%00', 'x'.repeat(65)]) {
      const res = await call(app, { url: `${listOf(key)}&after=${encodeURIComponent(bad)}` })
      expect(res, bad).toEqual({ statusCode: 400, body: apiError('invalid_cursor') })
    }
    // Another key's cursor, of this kind of list or of /user (empty lists have no cursor: made here).
    const otherKey = keyOf()
    await Promise.all(Array.from({ length: 2 }, async () => await create(app, otherKey)))
    const foreign = (await page(app, `${listOf(otherKey)}&limit=1`)).next as string
    expect(otherList).toBe(null)
    expect(userCursor).toBe(null)
    expect(await call(app, { url: `${listOf(key)}&after=${encodeURIComponent(foreign)}` }))
      .toEqual({ statusCode: 400, body: apiError('invalid_cursor') })
    // The same cursor still works where it belongs.
    expect((await page(app, `${listOf(key)}&limit=1&after=${encodeURIComponent(cursor)}`)).data).toHaveLength(1)
  })

  it('sees every session that stays live and unused exactly once while others are created, used and deleted', async () => {
    const key = keyOf()
    const stable = await Promise.all(Array.from({ length: 60 }, async () => await create(app, key)))
    const churn = await Promise.all(Array.from({ length: 30 }, async () => await create(app, key)))
    let round = 0
    const pages = await walk(app, listOf(key), '&limit=7', async () => {
      // Between two pages: a new session, a use of one churning session and the end of another.
      round++
      await create(app, key)
      const used = churn[round % churn.length]
      await call(app, { url: `/get?token=${used.token}` })
      const ended = churn[(round + 15) % churn.length]
      await call(app, { url: `/del?token=${ended.token}` })
    })
    const seen = pages.flatMap((p) => p.data.map((s) => s.id))
    for (const s of stable) expect(seen.filter((id) => id === s.id), s.id).toHaveLength(1)
    // Nothing is seen twice, churn included, and each page is in order.
    expect(new Set(seen).size).toBe(seen.length)
    for (const p of pages) expect(newestFirst(p.data)).toBe(true)
  })
})

describe('lists at scale', () => {
  it('ends a page early, next set, once it holds about 256 KB of sessions', async () => {
    const userId = uniqueUserId()
    const extra = { blob: 'x'.repeat(7500) }
    const created = await Promise.all(Array.from({ length: 100 }, async () => await newSession(app, userId, undefined, extra)))
    const pages = await walk(app, `/user?id=${userId}`)
    // About 7.5 KB a session: 34 or 35 a page.
    expect(pages.length).toBe(3)
    for (const p of pages.slice(0, -1)) {
      expect(p.data.length).toBeGreaterThanOrEqual(30)
      expect(p.data.length).toBeLessThanOrEqual(36)
      expect(p.next).toEqual(expect.any(String))
    }
    expect(pages.flatMap((p) => p.data).sort(byId)).toEqual(created.sort(byId))
  })

  it('answers a crowded address 1000 sessions at a time, every one once', async () => {
    const ip = uniqueIp()
    const created: Session[] = []
    for (let i = 0; i < 1500; i += 100) {
      created.push(...await Promise.all(Array.from({ length: 100 }, async () => await newSession(app, uniqueUserId(), ip))))
    }
    const pages = await walk(app, `/ip?ip=${ip}`)
    expect(pages.map((p) => p.data.length)).toEqual([1000, 500])
    expect(pages.flatMap((p) => p.data).sort(byId)).toEqual(created.sort(byId))
  })
})

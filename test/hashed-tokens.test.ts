// TOKEN_STORAGE=hashed: Tarantool keeps no token, only a hash of each; plain data is converted in
// the background, none lost; going back to plain is refused.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { connectConsole } from '../lib/admin-console.js'
import { SessionsClient } from '../client/src/index.js'
import type { Session, SessionWithToken } from '../src/store/types.js'
import { apiError, buildApp, call, newSession, ok, SESSION_ID, uniqueIp, uniqueUserId } from './support/app.js'
import { serveApp } from './support/client.js'
import { missing } from './support/programs.js'
import { startTarantool, TARANTOOL_BIN, type TestTarantool } from './support/tarantool.js'

/** The data files of an instance (snapshots and write-ahead logs), each as bytes. */
function dataFiles (dir: string, which: (name: string) => boolean = () => true): Array<{ name: string, bytes: Buffer }> {
  return readdirSync(dir)
    .filter((name) => (name.endsWith('.snap') || name.endsWith('.xlog')) && which(name))
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }))
}

/** The files among `files` that hold this token, as text or as its 16 bytes. */
function holding (files: Array<{ name: string, bytes: Buffer }>, token: string): string[] {
  const bytes = Buffer.from(token.replaceAll('-', ''), 'hex')
  return files.filter((f) => f.bytes.includes(token) || f.bytes.includes(bytes)).map((f) => f.name)
}

async function snapshot (tarantool: TestTarantool): Promise<void> {
  const admin = await connectConsole(tarantool.console!)
  try {
    await admin.eval('box.snapshot()')
  } finally {
    admin.close()
  }
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('TOKEN_STORAGE=hashed', () => {
  let dir: string
  let tarantool: TestTarantool
  let app: FastifyInstance
  beforeAll(async () => {
    tarantool = await startTarantool()
    dir = tarantool.dir!
    app = await buildApp({ uri: tarantool.uri, env: { TOKEN_STORAGE: 'hashed' } })
  })
  afterAll(async () => {
    await app?.close()
    await tarantool?.stop()
  })

  it('answers as in plain mode where the caller has the token, and lists sessions by id without it', async () => {
    const userId = uniqueUserId()
    const ip = uniqueIp()
    const created = await newSession(app, userId, ip, { device: 'Nexus 5' })
    expect(created).toEqual({ ip, extra: { device: 'Nexus 5' }, user_id: userId, create: expect.any(Number), activity: expect.any(Number), token: expect.any(String), id: expect.stringMatching(SESSION_ID), expires: expect.any(Number) })
    const got = await ok(app, { url: `/get?token=${created.token}` })
    expect(got).toEqual({ ...created, activity: got.activity, expires: got.activity + 180 * 24 * 3600 })
    const { token: _token, ...withoutToken } = got
    for (const url of [`/user?id=${userId}`, `/ip?ip=${ip}`]) {
      expect(await call(app, { url })).toEqual({ statusCode: 200, body: { status: 'success', data: [withoutToken], next: null } })
    }
    expect(await call(app, { url: `/del?id=${created.id}` })).toEqual({ statusCode: 200, body: { status: 'success', data: withoutToken } })
    expect(await call(app, { url: `/get?token=${created.token}` })).toEqual({ statusCode: 404, body: apiError('token_not_found') })
  })

  it('ends a session by its token as well', async () => {
    const created = await newSession(app)
    expect(await ok(app, { url: `/del?token=${created.token}` })).toEqual(created)
  })

  it('leaves no token in any snapshot or write-ahead log', async () => {
    const sessions = await Promise.all(Array.from({ length: 50 }, async () => await newSession(app, undefined, undefined, { a: 1 })))
    // Used (activity written by the flusher), changed, and some ended.
    await Promise.all(sessions.map(async (s, i) => await ok(app, { url: `/get?token=${s.token}&ip=${uniqueIp()}`, ...(i % 2 === 0 ? { payload: { b: 2 } } : {}) })))
    await Promise.all(sessions.slice(0, 10).map(async (s) => await ok(app, { url: `/del?token=${s.token}` })))
    await snapshot(tarantool)
    const files = dataFiles(dir)
    expect(files.some((f) => f.name.endsWith('.snap'))).toBe(true)
    expect(files.some((f) => f.name.endsWith('.xlog'))).toBe(true)
    for (const s of sessions) expect(holding(files, s.token), s.token).toEqual([])
  })

  it('rotates: the new token opens the session under its id, the old one only for its grace; neither is stored', async () => {
    const userId = uniqueUserId()
    const created = await newSession(app, userId)
    const rotated = await ok(app, { url: `/rotate?token=${created.token}&grace=30` })
    expect(rotated).toMatchObject({ id: created.id, token: expect.any(String), user_id: userId })
    expect(await ok(app, { url: `/get?token=${created.token}` })).toMatchObject({ id: created.id, token: created.token })
    const again = await ok(app, { url: `/rotate?token=${rotated.token}` })
    expect(await call(app, { url: `/get?token=${rotated.token}` })).toEqual({ statusCode: 404, body: apiError('token_not_found') })
    expect(await ok<Session[]>(app, { url: `/user?id=${userId}` })).toEqual([{ ...again, token: undefined, activity: expect.any(Number), expires: expect.any(Number) }].map(({ token, ...rest }) => rest))
    await snapshot(tarantool)
    const files = dataFiles(dir)
    for (const token of [created.token, rotated.token, again.token]) expect(holding(files, token), token).toEqual([])
    expect(await ok(app, { url: `/del?id=${created.id}` })).toMatchObject({ id: created.id })
  })

  it('refuses to start in plain mode on hashed tokens, saying why', async () => {
    await expect(buildApp({ uri: tarantool.uri, env: { TOKEN_STORAGE: 'plain' } })).rejects.toThrow(/TOKEN_STORAGE=plain is refused/)
    // The hashed service still serves.
    const created = await newSession(app)
    expect((await ok(app, { url: `/get?token=${created.token}` })).id).toBe(created.id)
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('switching from plain to hashed', () => {
  let dir: string
  let tarantool: TestTarantool
  beforeAll(async () => {
    tarantool = await startTarantool()
    dir = tarantool.dir!
  })
  afterAll(async () => {
    await tarantool?.stop()
  })

  it('converts every plain session in the background, none lost, serving throughout', async () => {
    const plain = await buildApp({ uri: tarantool.uri })
    const userId = uniqueUserId()
    const sessions: SessionWithToken[] = []
    // Several conversion batches (100 each), in one user's list.
    for (let i = 0; i < 1200; i += 100) {
      sessions.push(...await Promise.all(Array.from({ length: 100 }, async () => await newSession(plain, userId))))
    }
    // One rotated while tokens were plain: its id is made of its first (plain) key.
    sessions[1] = await ok(plain, { url: `/rotate?token=${sessions[1].token}` })
    await plain.close()

    const hashed = await buildApp({ uri: tarantool.uri, env: { TOKEN_STORAGE: 'hashed' } })
    try {
      // Served while the conversion runs, and after: every token still opens its session.
      const found = await Promise.all(sessions.map(async (s) => await call(hashed, { url: `/get?token=${s.token}` })))
      expect(found.filter((r) => r.statusCode !== 200)).toEqual([])
      await vi.waitFor(async () => {
        expect((await hashed.store.stats()).hashing_tokens).toBe(false)
      }, { timeout: 20_000, interval: 100 })
      const listed: Session[] = []
      let after: string | null = null
      do {
        const res = await call<Session[]>(hashed, { url: `/user?id=${userId}${after === null ? '' : `&after=${after}`}` })
        const body = res.body as unknown as { data: Session[], next: string | null }
        listed.push(...body.data)
        after = body.next
      } while (after !== null)
      expect(listed).toHaveLength(sessions.length)
      expect(listed.every((s) => s.token === undefined)).toBe(true)
      for (const s of sessions) expect((await ok(hashed, { url: `/get?token=${s.token}` })).user_id).toBe(userId)
      expect(listed.find((s) => s.id === sessions[1].id)).toBeDefined()
      expect(await ok(hashed, { url: `/del?id=${sessions[1].id}` })).toMatchObject({ id: sessions[1].id, user_id: userId })
      // An id read before the conversion still names the session to keep.
      const [kept] = sessions
      expect(await ok(hashed, { url: `/del_user?id=${userId}&except_id=${kept.id}` })).toEqual({ deleted: sessions.length - 2 })
      expect((await ok(hashed, { url: `/get?token=${kept.token}` })).user_id).toBe(userId)
      // The converted state holds no token: a snapshot of it (older files are Tarantool's to
      // remove, after checkpoint_count newer snapshots).
      await snapshot(tarantool)
      const newest = dataFiles(dir, (name) => name.endsWith('.snap')).sort((a, b) => a.name.localeCompare(b.name)).at(-1)!
      expect(holding([newest], kept.token)).toEqual([])
    } finally {
      await hashed.close()
    }
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('switching from plain to hashed, with a caching client', () => {
  let tarantool: TestTarantool
  beforeAll(async () => {
    tarantool = await startTarantool()
  })
  afterAll(async () => {
    await tarantool?.stop()
  })

  // A session's id is made of its key: the conversion gives each session another id, which the
  // events that follow name. What a cache held under the old one must go (a `reset` event).
  it('drops what the cache holds as the ids change, so that a session revoked after its conversion is not served from memory', async () => {
    const served = await serveApp({ uri: tarantool.uri })
    const client = new SessionsClient({ baseUrl: served.baseUrl, cache: { ttlMs: 60_000, max: 1000 } })
    try {
      await vi.waitFor(() => { expect(client.cacheStats()!.streamConnected).toBe(true) }, { timeout: 5000 })
      const session = await client.create(uniqueUserId(), uniqueIp())
      expect((await client.get(session.token)).id).toBe(session.id)
      expect(client.cacheStats()!.entries).toBe(1)

      // Another service process with TOKEN_STORAGE=hashed: the conversion starts.
      const hashed = await buildApp({ uri: tarantool.uri, env: { TOKEN_STORAGE: 'hashed' } })
      try {
        await vi.waitFor(async () => {
          expect((await hashed.store.stats()).hashing_tokens).toBe(false)
        }, { timeout: 20_000, interval: 100 })
        const converted = await ok<Session>(hashed, { url: `/get?token=${session.token}` })
        expect(converted.id).not.toBe(session.id)
        const page = await ok<Array<{ type: string, reason?: string }>>(hashed, { url: '/events?after=0&limit=1000' })
        expect(page.filter((e) => e.type === 'reset')).toEqual([expect.objectContaining({ type: 'reset', reason: 'tokens_hashed' })])
        await vi.waitFor(() => { expect(client.cacheStats()!.entries).toBe(0) })

        expect(await ok(hashed, { url: `/del?token=${session.token}` })).toMatchObject({ id: converted.id })
        await vi.waitFor(async () => {
          await expect(client.get(session.token)).rejects.toMatchObject({ code: 'token_not_found' })
        }, { timeout: 1000, interval: 5 })
      } finally {
        await hashed.close()
      }
    } finally {
      await client.close()
      await served.app.close()
    }
  })
})

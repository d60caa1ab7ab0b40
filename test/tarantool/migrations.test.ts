// Data written by an older schema is upgraded when a newer one starts on it: here sessions of
// schema 1 (ips as text) served as before by schema 2, which converts IPv4 to numbers in the
// background.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { connectConsole } from '../../lib/admin-console.js'
import type { SessionWithToken as Session } from '../../src/store/types.js'
import { INIT_LUA } from '../../src/embedded/tarantool.js'
import { buildApp, ok } from '../support/app.js'
import { startTarantool, TARANTOOL_BIN, type TestTarantool } from '../support/tarantool.js'
import { missing } from '../support/programs.js'

const NOW = Math.floor(Date.now() / 1000)
const OLD = [
  { token: '0e5c0000-0000-4000-8000-000000000001', user_id: 7, ip: '10.1.2.3', extra: null },
  { token: '0e5c0000-0000-4000-8000-000000000002', user_id: 7, ip: '2001:db8::1', extra: { device: 'Nexus 5' } },
  { token: '0e5c0000-0000-4000-8000-000000000003', user_id: 8, ip: '255.255.255.255', extra: null },
  { token: '0e5c0000-0000-4000-8000-000000000004', user_id: 9, ip: '0.0.0.0', extra: null }
]

const CROWD = 1200

/**
 * Writes data of an older schema into `dir` with a throwaway instance: the schema up to `version`,
 * then `body` (Lua, with `uuid` at hand), then a snapshot.
 */
function writeOldSchema (dir: string, version: number, body: string): void {
  const script = join(dir, `schema${version}.lua`)
  writeFileSync(script, `
    package.path = '${dirname(INIT_LUA)}/?.lua;${dirname(INIT_LUA)}/?/init.lua;' .. package.path
    box.cfg{work_dir = '${dir}', log_level = 2}
    require('sessions.migrations').apply(${version})
    local uuid = require('uuid')
    ${body}
    box.snapshot()
    os.exit(0)
  `)
  const run = spawnSync(TARANTOOL_BIN!, [script], { cwd: dir, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`schema ${version} setup failed: ${run.stderr}`)
}

/** Writes schema-1 data into `dir`. */
function writeSchemaOne (dir: string): void {
  const rows = OLD.map((s) => `{uuid.fromstr('${s.token}'), ${s.user_id}, '${s.ip}', ${NOW}, ${NOW}` +
    (s.extra === null ? '}' : `, {device = '${s.extra.device}'}}`)).join(',\n')
  writeOldSchema(dir, 1, `
    for _, t in ipairs({${rows}}) do box.space.sessions:insert(t) end
    -- Many sessions at one address: more than one conversion batch.
    for i = 1, ${CROWD} do
      box.space.sessions:insert{uuid.fromstr(string.format('0e5c0000-0000-4000-9000-%012x', i)), 10, '10.7.7.7', ${NOW}, ${NOW}}
    end
  `)
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('migrations', () => {
  let dir: string
  let tarantool: TestTarantool
  let app: FastifyInstance
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sessions-migrate-'))
    writeSchemaOne(dir)
    tarantool = await startTarantool({ TARANTOOL_WORK_DIR: dir })
    app = await buildApp({ uri: tarantool.uri })
  })
  afterAll(async () => {
    await app?.close()
    await tarantool?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves sessions written by schema 1, ips unchanged to the API', async () => {
    for (const old of OLD) {
      expect(await ok(app, { url: `/ip?ip=${old.ip}` })).toEqual([expect.objectContaining({ token: old.token, ip: old.ip, extra: old.extra })])
    }
    expect((await ok<unknown[]>(app, { url: '/user?id=7' })).length).toBe(2)
    const touched = await ok(app, { url: `/get?token=${OLD[0].token}&ip=10.9.9.9` })
    expect(touched).toMatchObject({ ip: '10.9.9.9', user_id: 7, create: NOW })
    expect(await ok(app, { url: '/ip?ip=10.1.2.3' })).toEqual([])
    expect(await ok(app, { url: '/ip?ip=10.9.9.9' })).toEqual([expect.objectContaining({ token: OLD[0].token })])
  })

  it('converts the IPv4 addresses stored as text, and only those', async () => {
    const admin = await connectConsole(tarantool.console!)
    try {
      await vi.waitFor(async () => {
        expect(await admin.eval('return require("sessions.ipv4_upgrade").pending()')).toBe(false)
      }, { timeout: 10_000, interval: 100 })
      expect(await admin.eval('return require("sessions.migrations").version()')).toBe(7)
      const stored = await admin.eval<Array<[string, unknown]>>(
        'local out = {} for _, t in box.space.sessions:pairs() do out[#out + 1] = {t[1]:str(), t[3]} end return out')
      const byToken = Object.fromEntries(stored)
      expect(byToken[OLD[1].token]).toBe('2001:db8::1')
      expect(byToken[OLD[2].token]).toBe(2 ** 32 - 1)
      expect(byToken[OLD[3].token]).toBe(0)
      expect(Object.values(byToken).filter((ip) => typeof ip === 'string')).toEqual(['2001:db8::1'])
      expect(Object.values(byToken).filter((ip) => ip === (((10 * 256 + 7) * 256 + 7) * 256 + 7))).toHaveLength(CROWD)
    } finally {
      admin.close()
    }
  })

  it('mixes converted and new sessions at one address', async () => {
    const fresh = await ok(app, { url: '/new?user_id=8&ip=255.255.255.255' })
    const listed = await ok<Array<{ token: string }>>(app, { url: '/ip?ip=255.255.255.255' })
    expect(listed.map((s) => s.token).sort()).toEqual([OLD[2].token, fresh.token].sort())
  })
})

/** Writes schema-2 data (ips as numbers, indexes by key alone) into `dir`. */
function writeSchemaTwo (dir: string, users: number, perUser: number): void {
  writeOldSchema(dir, 2, `
    for u = 1, ${users} do
      for i = 1, ${perUser} do
        -- Activities a second apart, some shared: the new order must break ties.
        box.space.sessions:insert{uuid.new(), u, 167772160 + u, ${NOW} - 5000, ${NOW} - math.floor(i / 2)}
      end
    end
  `)
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('migrations from schema 2', () => {
  const USERS = 3
  const PER_USER = 250
  let dir: string
  let tarantool: TestTarantool
  let app: FastifyInstance
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sessions-migrate2-'))
    writeSchemaTwo(dir, USERS, PER_USER)
    tarantool = await startTarantool({ TARANTOOL_WORK_DIR: dir })
    app = await buildApp({ uri: tarantool.uri })
  })
  afterAll(async () => {
    await app?.close()
    await tarantool?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps every session, each listed once in pages newest first, with an id that ends it', async () => {
    for (let user = 1; user <= USERS; user++) {
      const seen: Array<{ token: string, id: string, activity: number }> = []
      let after: string | null = null
      do {
        const res: { data: typeof seen, next: string | null } = (await app.inject({ url: `/user?id=${user}&limit=100${after === null ? '' : `&after=${after}`}` })).json()
        seen.push(...res.data)
        after = res.next
      } while (after !== null)
      expect(seen).toHaveLength(PER_USER)
      expect(new Set(seen.map((s) => s.token)).size).toBe(PER_USER)
      expect(seen.every((s, i) => i === 0 || seen[i - 1].activity >= s.activity)).toBe(true)
      expect((await ok<unknown[]>(app, { url: `/ip?ip=10.0.0.${user}&limit=1000` })).length).toBe(PER_USER)
    }
    const [first] = await ok<Array<{ token: string, id: string }>>(app, { url: '/user?id=1&limit=1' })
    expect(await ok(app, { url: `/del?id=${first.id}` })).toMatchObject({ token: first.token, id: first.id })
    expect((await app.inject({ url: `/get?token=${first.token}` })).statusCode).toBe(404)
  })
})

/** Writes schema-4 data (before per-session ttl, lifetime and rotation) into `dir`. */
function writeSchemaFour (dir: string): void {
  const rows = OLD.map((s, i) => `{uuid.fromstr('${s.token}'), ${s.user_id}, ${167772160 + i}, ${NOW} - 100, ${NOW} - ${i}` +
    (s.extra === null ? '}' : `, {device = '${s.extra.device}'}}`)).join(',\n')
  writeOldSchema(dir, 4, `for _, t in ipairs({${rows}}) do box.space.sessions:insert(t) end`)
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('migrations from schema 4', () => {
  let dir: string
  let tarantool: TestTarantool
  let app: FastifyInstance
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sessions-migrate4-'))
    writeSchemaFour(dir)
    tarantool = await startTarantool({ TARANTOOL_WORK_DIR: dir })
    app = await buildApp({ uri: tarantool.uri })
  })
  afterAll(async () => {
    await app?.close()
    await tarantool?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps every session, under the TTL setting, with its id; they rotate and take the new rules', async () => {
    const TTL = 180 * 24 * 3600
    const listed = [
      ...await ok<Session[]>(app, { url: '/user?id=7' }),
      ...await ok<Session[]>(app, { url: '/user?id=8' }),
      ...await ok<Session[]>(app, { url: '/user?id=9' })
    ]
    expect(listed.map((s) => s.token).sort()).toEqual(OLD.map((s) => s.token).sort())
    for (const s of listed) {
      const old = OLD.find((o) => o.token === s.token)!
      expect(s).toEqual({
        ip: `10.0.0.${OLD.indexOf(old)}`,
        extra: old.extra,
        user_id: old.user_id,
        create: NOW - 100,
        activity: NOW - OLD.indexOf(old),
        expires: NOW - OLD.indexOf(old) + TTL,
        token: old.token,
        id: expect.any(String)
      })
    }
    const rotated = await ok(app, { url: `/rotate?token=${OLD[1].token}&grace=5` })
    expect(rotated).toMatchObject({ id: listed.find((s) => s.token === OLD[1].token)!.id, extra: OLD[1].extra, create: NOW - 100 })
    expect(await ok(app, { url: `/del?id=${rotated.id}` })).toMatchObject({ token: rotated.token })
    expect((await app.inject({ url: `/get?token=${OLD[0].token}` })).statusCode).toBe(200)
  })
})

// Session events (tarantool/sessions/events.lua): which procedure writes which event, in the
// transaction of its change; committed-only reads; the long poll; retention; the sequence across
// restarts and the migration from the schema before. Run inside Tarantool, with no background
// fiber started unless a test starts one, so that each step decides what is written when.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { INIT_LUA } from '../../src/embedded/tarantool.js'
import { TARANTOOL_BIN } from '../support/tarantool.js'
import { missing } from '../support/programs.js'

let dir: string | undefined
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = undefined
})

/** An event as the tests compare it: its type, reason, key (the session's first token), user and ip. */
type Event = [string, string | null, string, number, number | string]

/**
 * Runs `body` (Lua returning a table) in an instance with the schema (migrated `upTo` a version,
 * default all), its triggers and the procedures, on this test's data directory (kept between the
 * calls of a test: a second call is a restart); returns the table. `cfg`: more box.cfg options.
 */
function runLua<T> (body: string, { upTo = '', cfg = '' } = {}): T {
  dir ??= mkdtempSync(join(tmpdir(), 'sessions-events-'))
  const script = join(dir, 'script.lua')
  writeFileSync(script, `
    package.path = '${dirname(INIT_LUA)}/?.lua;${dirname(INIT_LUA)}/?/init.lua;' .. package.path
    box.cfg{work_dir = '${dir}', log_level = 2${cfg === '' ? '' : `, ${cfg}`}}
    require('sessions.migrations').apply(${upTo})
    require('sessions.triggers').install()
    local events = require('sessions.events')
    -- As on the writable member.
    events.lead()
    local json = require('json')
    local uuid = require('uuid')
    local fiber = require('fiber')
    local clock = require('clock')
    local api = require('sessions.api').procedures
    local aliases = require('sessions.aliases')
    local activity = require('sessions.activity')
    local expiry = require('sessions.expiry')
    local settings = require('sessions.settings')
    local s = box.space.sessions
    local NOW = math.floor(fiber.time())
    -- The events after seq \`after\` (of one user when given), as the tests compare them.
    local function since(after, user_id)
      local out = {}
      for _, e in ipairs(api.events_page(after, 1000, user_id).events) do
        out[#out + 1] = {e[3], e[7] or box.NULL, e[5]:str(), e[4], e[6]}
      end
      return out
    end
    local function newest() return api.events_page(0, 1).newest end
    -- An event row written as of \`age\` seconds ago, for the retention tests. Not through the
    -- procedures: readable once an event of theirs after it has committed.
    local function old_event(age)
      return box.space.sessions_events:insert{box.NULL, math.floor((fiber.time() - age) * 1000), 'created', 1, uuid.new(), 1}
    end
    local ok, result = pcall(function() ${body} end)
    if not ok then io.stderr:write(tostring(result)) os.exit(1) end
    io.stdout:write(json.encode(result))
    os.exit(0)
  `)
  const run = spawnSync(TARANTOOL_BIN!, [script], { cwd: dir, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`the script failed: ${run.stderr}`)
  return JSON.parse(run.stdout) as T
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('session events', () => {
  it('created by /new, once; nothing for a /new sent again, or refused by the limit', () => {
    const r = runLua<{ created: Event[], again: Event[], token: string }>(`
      local token = uuid.new()
      api.new(token, 1, 167772161, nil, {})
      local created = since(0)
      local mark = newest()
      api.new(token, 1, 167772161, nil, {})
      api.new(uuid.new(), 1, 167772161, nil, {max_sessions = 1, limit_policy = 'deny'})
      return {created = created, again = since(mark), token = token:str()}
    `)
    expect(r.created).toEqual([['created', null, r.token, 1, 167772161]])
    expect(r.again).toEqual([])
  })

  it('updated by a /get that changes the ip or extra; none for one that only marks use or changes nothing', () => {
    const r = runLua<Record<string, unknown>>(`
      local token = uuid.new()
      api.new(token, 2, 10, {a = 1}, {})
      local mark = newest()
      local lsn = box.info.lsn
      -- Activity alone (a new second or not), the same ip, the same extra: no event, no write.
      api.get(token, nil, nil, 1000)
      api.get(token, 10, nil, 1000)
      api.get(token, 10, {a = 1}, 1000)
      local quiet = {since(mark), box.info.lsn - lsn}
      api.get(token, 11, nil, 1000)
      api.get(token, nil, {b = 2}, 1000)
      -- Marks of use written later carry no event either.
      activity.flush()
      return {quiet = quiet, changed = since(mark), token = token:str()}
    `)
    expect(r.quiet).toEqual([[], 0])
    expect(r.changed).toEqual([['updated', null, r.token, 2, 11], ['updated', null, r.token, 2, 11]])
  })

  it('revoked by /del and /del_key (deleted), and for a session /del finds gone (expired)', () => {
    const r = runLua<{ events: Event[], tokens: string[] }>(`
      local a, b, c = uuid.new(), uuid.new(), uuid.new()
      api.new(a, 3, 30, nil, {})
      api.new(b, 3, 30, nil, {})
      api.new(c, 3, 30, nil, {ttl = 100})
      s:update(c, {{'=', 5, NOW - 200}})
      local mark = newest()
      api.del(a)
      api.del_key(b)
      api.del(c)
      api.del(a)                  -- gone: nothing
      return {events = since(mark), tokens = {a:str(), b:str(), c:str()}}
    `)
    const [a, b, c] = r.tokens
    expect(r.events).toEqual([['revoked', 'deleted', a, 3, 30], ['revoked', 'deleted', b, 3, 30], ['revoked', 'expired', c, 3, 30]])
  })

  it('revoked by /del_user (signed_out) and /del_ip (ip_signed_out), one per session ended, none for the one kept', () => {
    const r = runLua<{ user: Event[], ip: Event[], kept: string, others: string[], elsewhere: string[] }>(`
      local kept = uuid.new()
      api.new(kept, 4, 40, nil, {})
      local others = {}
      -- Past one transaction of the sign-out (100).
      for i = 1, 150 do others[i] = uuid.new() api.new(others[i], 4, 40, nil, {}) end
      local mark = newest()
      repeat local answer = api.del_user(4, kept) until answer.done
      local user = since(mark)
      mark = newest()
      local elsewhere = {uuid.new(), uuid.new()}
      api.new(elsewhere[1], 5, 50, nil, {})
      api.new(elsewhere[2], 6, 50, nil, {})
      mark = newest()
      api.del_ip(50)
      local strs = {}
      for i, t in ipairs(others) do strs[i] = t:str() end
      return {user = user, ip = since(mark), kept = kept:str(), others = strs, elsewhere = {elsewhere[1]:str(), elsewhere[2]:str()}}
    `)
    expect(r.user).toHaveLength(150)
    expect(r.user.every(([type, reason, , user, ip]) => type === 'revoked' && reason === 'signed_out' && user === 4 && ip === 40)).toBe(true)
    expect(r.user.map((e) => e[2]).sort()).toEqual([...r.others].sort())
    expect(r.ip.map((e) => [e[0], e[1], e[2]]).sort()).toEqual(r.elsewhere.map((key) => ['revoked', 'ip_signed_out', key]).sort())
  })

  it('revoked by the per-user limit (evicted), before the created of the session that took the room', () => {
    const r = runLua<{ events: Event[], oldest: string, newest: string }>(`
      local oldest = uuid.new()
      api.new(oldest, 7, 70, nil, {})
      s:update(oldest, {{'=', 5, NOW - 10}})
      api.new(uuid.new(), 7, 70, nil, {})
      local mark = newest()
      local newer = uuid.new()
      api.new(newer, 7, 70, nil, {max_sessions = 2})
      return {events = since(mark), oldest = oldest:str(), newest = newer:str()}
    `)
    expect(r.events).toEqual([['revoked', 'evicted', r.oldest, 7, 70], ['created', null, r.newest, 7, 70]])
  })

  it('revoked by the expiry sweep (expired), by the TTL setting and by a session\'s own deadline', () => {
    const r = runLua<{ events: Event[], tokens: string[], deleted: number }>(`
      settings.set({ttl = 1000})
      local by_ttl, by_deadline, live = uuid.new(), uuid.new(), uuid.new()
      api.new(by_ttl, 8, 80, nil, {})
      api.new(by_deadline, 8, 80, nil, {ttl = 10})
      api.new(live, 8, 80, nil, {})
      s:update(by_ttl, {{'=', 5, NOW - 2000}})
      local mark = newest()
      local deleted = expiry.sweep_batch(NOW + 20)
      return {events = since(mark), tokens = {by_ttl:str(), by_deadline:str()}, deleted = deleted}
    `)
    expect(r.deleted).toBe(2)
    expect(r.events).toEqual([['revoked', 'expired', r.tokens[0], 8, 80], ['revoked', 'expired', r.tokens[1], 8, 80]])
  })

  it('rotated by /rotate without a grace, naming the session by its first key through every rotation; none for a retry', () => {
    const r = runLua<{ events: Event[], first: string }>(`
      local first, second, third = uuid.new(), uuid.new(), uuid.new()
      api.new(first, 9, 90, nil, {})
      local mark = newest()
      api.rotate(first, second)
      api.rotate(second, third)
      api.rotate(second, third)    -- a retry: the same session back, nothing written
      return {events = since(mark), first = first:str()}
    `)
    expect(r.events).toEqual([['rotated', null, r.first, 9, 90], ['rotated', null, r.first, 9, 90]])
  })

  it('rotated when the old token\'s grace ends: none before, one at its second', () => {
    const r = runLua<Record<string, unknown>>(`
      local first, second = uuid.new(), uuid.new()
      api.new(first, 10, 100, nil, {})
      local mark = newest()
      api.rotate(first, second, 5)
      local at_rotation = since(mark)
      local due = aliases.next_announcement()
      local before = aliases.announce_batch(due - 1, 100)
      local works = api.get(first, nil, nil, 1000) ~= nil
      expiry.sweep_batch(due)
      local at_end = since(mark)
      -- Written once: the next passes find nothing due.
      expiry.sweep_batch(due + 1)
      return {at_rotation = at_rotation, before = before, works = works, at_end = at_end, again = since(mark),
              first = first:str(), in_grace = due - NOW, left = aliases.next_announcement() or box.NULL}
    `)
    expect(r).toEqual({
      at_rotation: [],
      before: 0,
      works: true,
      at_end: [['rotated', null, r.first, 10, 100]],
      again: [['rotated', null, r.first, 10, 100]],
      first: r.first,
      in_grace: expect.toBeOneOf([5, 6]),
      left: null
    })
  })

  it('rotated at the end of a grace by the expiry fiber, which wakes at that second rather than after its interval', () => {
    const r = runLua<{ late_ms: number, events: Event[], stopped: boolean }>(`
      settings.set({sweep_interval = 3600})
      expiry.start()
      fiber.sleep(0.05)            -- its first pass is done: it sleeps for an hour
      local first = uuid.new()
      api.new(first, 11, 110, nil, {})
      local mark = newest()
      local until_s = math.floor(fiber.time()) + 1
      api.rotate(first, uuid.new(), until_s - math.floor(fiber.time()))
      local deadline = clock.monotonic() + 3
      while #since(mark) == 0 and clock.monotonic() < deadline do fiber.sleep(0.01) end
      local e = api.events_page(mark, 10).events[1]
      -- Stopped while it sleeps (on 2.6 a cancel ends a cond's wait as a signal does).
      expiry.stop()
      fiber.sleep(0.01)
      return {late_ms = e and (e[2] - until_s * 1000) or -1, events = since(mark),
              stopped = not require('sessions.fibers').running('sessions.expiry')}
    `)
    expect(r.stopped).toBe(true)
    expect(r.events).toHaveLength(1)
    expect(r.late_ms).toBeGreaterThanOrEqual(0)
    expect(r.late_ms).toBeLessThan(200)
  })

  it('are written in the transaction of their change: a /new that fails writes none, nor its evictions', () => {
    const r = runLua<Record<string, unknown>>(`
      local a, b = uuid.new(), uuid.new()
      api.new(a, 12, 120, nil, {})
      api.new(b, 12, 120, nil, {})
      local mark = newest()
      local lsn = box.info.lsn
      -- At the limit: the oldest is evicted, then the insert fails (an ip of no stored type).
      local ok = pcall(api.new, uuid.new(), 12, {}, nil, {max_sessions = 2})
      return {failed = not ok, events = since(mark), kept = s.index.user_id:count({12}), lsn = box.info.lsn - lsn,
              rows = box.space.sessions_events:len()}
    `)
    expect(r).toEqual({ failed: true, events: [], kept: 2, lsn: 0, rows: 2 })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('reading events', () => {
  it('pages oldest first, after a position, limited, of one user when asked', () => {
    const r = runLua<Record<string, unknown>>(`
      local tokens = {}
      for i = 1, 6 do tokens[i] = uuid.new() api.new(tokens[i], i % 2 == 0 and 20 or 21, 5, nil, {}) end
      local function seqs(page) local out = {} for i, e in ipairs(page.events) do out[i] = e[1] end return out end
      local all = api.events_page(0, 100)
      local second = api.events_page(2, 2)
      local user = api.events_page(0, 100, 20)
      local user_after = api.events_page(user.events[1][1], 1, 20)
      return {all = seqs(all), oldest = all.oldest, newest = all.newest, second = seqs(second),
              user = seqs(user), user_after = seqs(user_after), over = #api.events_page(0, 5000).events,
              bad = not pcall(api.events_page, -1, 10), bad_limit = not pcall(api.events_page, 0, 0)}
    `)
    expect(r.all).toEqual([1, 2, 3, 4, 5, 6])
    expect([r.oldest, r.newest]).toEqual([1, 6])
    expect(r.second).toEqual([3, 4])
    expect(r.user).toEqual([2, 4, 6])
    expect(r.user_after).toEqual([4])
    expect(r.over).toBe(6)
    expect([r.bad, r.bad_limit]).toEqual([true, true])
  })

  it('answer only committed events, though memtx shows others\' writes before their commit', () => {
    const r = runLua<Record<string, unknown>>(`
      api.new(uuid.new(), 22, 5, nil, {})
      local mark = newest()
      -- Runs until its commit waits on the WAL; this fiber goes on before the commit.
      fiber.create(function() api.new(uuid.new(), 22, 5, nil, {}) end)
      local in_space = box.space.sessions_events:len()
      local page = api.events_page(mark, 100)
      fiber.sleep(0.05)
      local after = api.events_page(mark, 100)
      return {in_space = in_space, during = #page.events, newest_during = page.newest == mark,
              after = #after.events, newest_after = after.newest == mark + 1}
    `)
    expect(r).toEqual({ in_space: 2, during: 0, newest_during: true, after: 1, newest_after: true })
  })

  it('answer, on a read-only member, the events replication applies once they commit there', () => {
    const r = runLua<Record<string, unknown>>(`
      api.new(uuid.new(), 25, 5, nil, {})
      local mark = newest()
      -- Rows written as the applier writes them: not through the procedures.
      events.follow()
      local woke
      fiber.create(function() woke = #api.events_wait(mark, 5).events end)
      fiber.create(function()
        box.space.sessions_events:insert{box.NULL, math.floor(fiber.time() * 1000), 'created', 25, uuid.new(), 5}
      end)
      local during = #api.events_page(mark, 100).events
      fiber.sleep(0.05)
      return {during = during, after = #api.events_page(mark, 100).events, woke = woke}
    `)
    expect(r).toEqual({ during: 0, after: 1, woke: 1 })
  })

  it('waits for the next commit and wakes within milliseconds of it, all the callers waiting at once', () => {
    const r = runLua<Record<string, unknown>>(`
      local mark = newest()
      local woke, answers = {}, {}
      for i = 1, 50 do
        fiber.create(function()
          answers[i] = api.events_wait(mark, 5)
          woke[i] = clock.monotonic()
        end)
      end
      fiber.sleep(0.1)
      local waiting = #woke == 0
      api.new(uuid.new(), 23, 5, nil, {})
      local committed = clock.monotonic()
      fiber.sleep(0.05)
      local latest = 0
      for i = 1, 50 do latest = math.max(latest, woke[i] - committed) end
      return {waiting = waiting, woke = #woke, latest_ms = latest * 1000, got = #answers[1].events,
              newest = answers[50].newest == mark + 1}
    `)
    expect(r).toMatchObject({ waiting: true, woke: 50, got: 1, newest: true })
    expect(r.latest_ms).toBeLessThan(10)
  })

  it('answer at once when events follow, and an empty page at the timeout when none comes', () => {
    const r = runLua<Record<string, unknown>>(`
      api.new(uuid.new(), 24, 5, nil, {})
      local started = clock.monotonic()
      local at_once = api.events_wait(0, 5)
      local at_once_ms = (clock.monotonic() - started) * 1000
      started = clock.monotonic()
      local none = api.events_wait(at_once.newest, 0.2)
      local waited_ms = (clock.monotonic() - started) * 1000
      return {at_once = #at_once.events, at_once_ms = at_once_ms, none = #none.events, newest = none.newest,
              waited_ms = waited_ms, limited = #api.events_wait(0, 1, 1).events}
    `)
    expect(r).toMatchObject({ at_once: 1, none: 0, newest: 1, limited: 1 })
    expect(r.at_once_ms).toBeLessThan(10)
    expect(r.waited_ms).toBeGreaterThanOrEqual(190)
    expect(r.waited_ms).toBeLessThan(400)
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('the sequence of events', () => {
  it('goes on after a restart: from the events kept, and from the sequence when none is kept', () => {
    const first = runLua<{ newest: number }>(`
      for i = 1, 3 do api.new(uuid.new(), 30, 5, nil, {}) end
      return {newest = newest()}
    `)
    const second = runLua<{ newest_at_start: number, next: number, kept: number }>(`
      local at_start = newest()
      api.new(uuid.new(), 30, 5, nil, {})
      local next_seq = newest()
      -- Every event swept, then a snapshot: the next start keeps no event to count from.
      settings.set({events_retention = 1})
      events.sweep_batch(math.floor(fiber.time() * 1000) + 5000)
      box.snapshot()
      return {newest_at_start = at_start, next = next_seq, kept = box.space.sessions_events:len()}
    `)
    const third = runLua<{ newest_at_start: number, next: number, oldest: number }>(`
      local at_start = newest()
      api.new(uuid.new(), 30, 5, nil, {})
      return {newest_at_start = at_start, next = newest(), oldest = api.events_page(0, 1).oldest}
    `)
    expect(first.newest).toBe(3)
    expect(second).toEqual({ newest_at_start: 3, next: 4, kept: 0 })
    expect(third).toEqual({ newest_at_start: 4, next: 5, oldest: 5 })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('retention', () => {
  it('deletes the events older than events_retention, in batches, and the page tells a caller it missed them', () => {
    const r = runLua<Record<string, unknown>>(`
      settings.set({events_retention = 900})
      for _ = 1, 2500 do old_event(1000) end
      api.new(uuid.new(), 40, 5, nil, {})
      local swept = events.sweep()
      local page = api.events_page(0, 100)
      return {swept = swept, kept = box.space.sessions_events:len(), oldest = page.oldest, newest = page.newest,
              first = page.events[1][1]}
    `)
    expect(r).toEqual({ swept: 2500, kept: 1, oldest: 2501, newest: 2501, first: 2501 })
  })

  it('runs in its fiber, and takes the setting as the service sends it (900 s when it sends none)', () => {
    const r = runLua<Record<string, unknown>>(`
      local default = settings.get().events_retention
      api.configure({ttl = 1000})
      local kept_default = settings.get().events_retention
      api.configure({events_retention = 60})
      old_event(120)
      old_event(30)
      api.new(uuid.new(), 41, 5, nil, {})
      events.start()
      fiber.sleep(0.1)
      local refused = api.configure({events_retention = 0}) == nil
      return {default = default, kept_default = kept_default, left = box.space.sessions_events:len(), refused = refused,
              retention = api.stats().events_retention}
    `)
    expect(r).toEqual({ default: 900, kept_default: 900, left: 2, refused: true, retention: 60 })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('a full memtx arena', () => {
  it('lets the expiry sweep free memory without its events, and refuses a /del whose event cannot be stored', () => {
    const r = runLua<Record<string, unknown>>(`
      settings.set({ttl = 1000})
      local tokens = {}
      for i = 1, 200 do tokens[i] = uuid.new() api.new(tokens[i], 50, 5, nil, {}) end
      for i = 1, 100 do s:update(tokens[i], {{'=', 5, NOW - 2000}}) end
      -- Fill the arena: large tuples, then events of the size of those the test writes, until
      -- one more cannot be stored.
      local filler = box.schema.space.create('filler')
      filler:create_index('primary')
      local blob = string.rep('x', 4000)
      local e = box.space.sessions_events
      local function row() return {box.NULL, math.floor(fiber.time() * 1000), 'revoked', 50, uuid.new(), 5, 'expired'} end
      box.begin()
      for i = 1, 100000 do if not pcall(filler.insert, filler, {i, blob}) then break end end
      while pcall(e.insert, e, row()) do end
      box.commit()
      local del_refused = not pcall(api.del, tokens[200])
      local swept = expiry.sweep_batch(NOW)
      return {del_refused = del_refused, still_there = s:get(tokens[200]) ~= nil, swept = swept,
              unrecorded = events.counters.unrecorded}
    `, { cfg: 'memtx_memory = 32 * 1024 * 1024' })
    expect(r).toEqual({ del_refused: true, still_there: true, swept: 100, unrecorded: 100 })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('the migration to events', () => {
  it('keeps the sessions and aliases of schema 6, and events start on them', () => {
    const old = runLua<{ tokens: string[] }>(`
      -- As schema 6 stored them: a session, and one rotated with a grace (its origin row, and
      -- the old token's row with 4 fields).
      local plain, first, second = uuid.new(), uuid.new(), uuid.new()
      s:insert{plain, 60, 5, NOW - 10, NOW - 10}
      s:insert{second, 60, 5, NOW - 10, NOW - 5, box.NULL, box.NULL, box.NULL, first}
      box.space.sessions_aliases:replace{first, second, NOW + 600, true}
      box.snapshot()
      return {tokens = {plain:str(), first:str(), second:str()}}
    `, { upTo: '6' })
    const r = runLua<Record<string, unknown>>(`
      local plain, first, second = uuid.fromstr('${old.tokens[0]}'), uuid.fromstr('${old.tokens[1]}'), uuid.fromstr('${old.tokens[2]}')
      local third = uuid.new()
      local graced_works = api.get(first, nil, nil, 1000) ~= nil
      api.rotate(second, third, 1)
      api.del(plain)
      local made = uuid.new()
      api.new(made, 60, 5, nil, {})
      expiry.sweep_batch(NOW + 1)
      return {version = require('sessions.migrations').version(), sessions = s:len(), graced_works = graced_works,
              aliases = box.space.sessions_aliases:len(), events = since(0),
              tokens = {plain:str(), first:str(), made:str()}}
    `)
    const [plain, first, made] = r.tokens as string[]
    expect(r).toMatchObject({ version: 7, sessions: 2, graced_works: true, aliases: 2 })
    expect(r.events).toEqual([
      ['revoked', 'deleted', plain, 60, 5], ['created', null, made, 60, 5], ['rotated', null, first, 60, 5]
    ])
  })
})

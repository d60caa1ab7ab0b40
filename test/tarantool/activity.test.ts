// Marks of use (tarantool/sessions/activity.lua): a /get that changes only `activity` leaves it to
// a later flush, and nothing that reads activity may tell. Run inside Tarantool, with the flush
// fiber not started, so that each step decides when marks are written. Also the expiry fiber's
// wake-ups, which need the same control of fibers.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
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

// Exit status of a script that ended in a later second than NOW: what it took as "now" (a new
// activity, "the same second") may not be NOW, so it is run again.
const CROSSED_SECOND = 3
const ATTEMPTS = 3

/**
 * Runs `body` (Lua returning a table) in an instance with the schema and procedures, on this
 * test's data directory; returns the table. Run again, from the same data, when the clock crossed
 * a second during the run, unless `anySecond` (a body that does not depend on it).
 */
function runLua<T> (body: string, { anySecond = false } = {}): T {
  dir ??= mkdtempSync(join(tmpdir(), 'sessions-activity-'))
  const script = join(dir, 'script.lua')
  writeFileSync(script, `
    package.path = '${dirname(INIT_LUA)}/?.lua;${dirname(INIT_LUA)}/?/init.lua;' .. package.path
    box.cfg{work_dir = '${dir}', log_level = 2}
    require('sessions.migrations').apply()
    local json = require('json')
    local uuid = require('uuid')
    local fiber = require('fiber')
    local clock = require('clock')
    local api = require('sessions.api').procedures
    local activity = require('sessions.activity')
    local expiry = require('sessions.expiry')
    local settings = require('sessions.settings')
    local s = box.space.sessions
    local NOW = math.floor(fiber.time())
    local function session(user_id, ip, age)
      local token = uuid.new()
      s:insert{token, user_id, ip, NOW - 1000, NOW - age}
      return token
    end
    -- What is written of a session's activity: its field, or its row in sessions_seen.
    local function stored(token)
      local row = box.space.sessions_seen:get(token)
      return math.max(s:get(token)[5], row and row[2] or 0)
    end
    -- The ids of {token, activity} pairs in list order: newest first, ties by key as the indexes
    -- order them.
    local function in_list_order(all)
      table.sort(all, function(a, b)
        if a[2] ~= b[2] then return a[2] > b[2] end
        return a[1]:bin('b') > b[1]:bin('b')
      end)
      local ids = {}
      for _, x in ipairs(all) do ids[#ids + 1] = x[1]:str() end
      return ids
    end
    -- The ids of every page of a list, from the first; page(after_activity, after_key) gives one.
    local function pages_of(page)
      local pages, after = {}, nil
      repeat
        local p = page(after and after[1], after and after[2])
        local ids = {}
        for _, t in ipairs(p.sessions) do ids[#ids + 1] = t[1]:str() end
        pages[#pages + 1] = ids
        after = p.next
      until after == nil
      return pages
    end
    -- The activity a get answers, by name beside the tuple (the stored one may not hold it yet).
    local function answered(_, _, named) return named.activity end
    local ok, result = pcall(function() ${body} end)
    -- Every time the procedures read (fiber.time(), cached) lies between NOW and the clock now:
    -- all of them were in NOW's second only if the clock still is. Checked before the outcome, as
    -- a crossing can also make the body fail (a new activity to write on a read-only instance).
    if ${!anySecond} and math.floor(clock.time()) ~= NOW then os.exit(${CROSSED_SECOND}) end
    if not ok then io.stderr:write(tostring(result)) os.exit(1) end
    io.stdout:write(json.encode(result))
    os.exit(0)
  `)
  // What the directory held before the first run, for the next ones.
  const start = `${dir}-start`
  cpSync(dir, start, { recursive: true })
  try {
    for (let attempt = 1; ; attempt++) {
      const run = spawnSync(TARANTOOL_BIN!, [script], { cwd: dir, encoding: 'utf8' })
      if (run.status === CROSSED_SECOND && attempt < ATTEMPTS) {
        rmSync(dir, { recursive: true, force: true })
        cpSync(start, dir, { recursive: true })
        continue
      }
      if (run.status === CROSSED_SECOND) throw new Error(`the clock crossed a second in each of ${ATTEMPTS} runs`)
      if (run.status !== 0) throw new Error(`the script failed: ${run.stderr}`)
      return JSON.parse(run.stdout) as T
    }
  } finally {
    rmSync(start, { recursive: true, force: true })
  }
}

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('marks of use', () => {
  it('answer with the new activity at once, and write it only when flushed', () => {
    const r = runLua<Record<string, number>>(`
      local token = session(1, 10, 60)
      local lsn = box.info.lsn
      local got = answered(api.get(token, nil, nil, 1000))
      local out = {now = NOW, answered = got, stored_before = stored(token), lsn_after_get = box.info.lsn - lsn}
      out.flushed = activity.flush()
      out.stored_after = stored(token)
      out.lsn_after_flush = box.info.lsn - lsn
      -- Used again in the same second: nothing to mark, nothing to write.
      api.get(token, nil, nil, 1000)
      out.flushed_again = activity.flush()
      out.lsn_at_end = box.info.lsn - lsn
      return out
    `)
    expect(r.answered).toBe(r.now)
    expect(r.stored_before).toBe(r.now - 60)
    expect(r.lsn_after_get).toBe(0)
    expect(r.flushed).toBe(1)
    expect(r.stored_after).toBe(r.now)
    expect(r.lsn_after_flush).toBe(1)
    expect(r.flushed_again).toBe(0)
    expect(r.lsn_at_end).toBe(1)
  })

  it('show pending marks in /user, /ip and /del answers, and order lists by them', () => {
    const r = runLua<Record<string, unknown>>(`
      local older = session(2, 20, 30)   -- used 30 s ago
      local newer = session(2, 20, 10)   -- used 10 s ago
      api.get(older, nil, nil, 1000)     -- now the most recent, but not written
      local user_page = api.by_user(2, 100)
      local by_user, activities = user_page.sessions, user_page.activities
      local by_ip = api.by_ip(20, 100).sessions
      local deleted = api.del(older)
      return {
        now = NOW,
        by_user = {{by_user[1][1]:str(), activities[1]}, {by_user[2][1]:str(), activities[2]}},
        by_ip_first = by_ip[1][1]:str(),
        older = older:str(), newer = newer:str(),
        deleted_activity = deleted[5],
        flushed = activity.flush(),  -- the mark of a deleted session writes nothing
      }
    `)
    expect(r.by_user).toEqual([[r.older, r.now], [r.newer, (r.now as number) - 10]])
    expect(r.by_ip_first).toBe(r.older)
    expect(r.deleted_activity).toBe(r.now)
    expect(r.flushed).toBe(0)
  })

  it('are written beside the session within its window, and into it in a later window', () => {
    const r = runLua<Record<string, unknown>>(`
      require('sessions.triggers').install()
      local W = activity.window(NOW)
      local same = session(12, 120, NOW - W)        -- stored at the start of this window
      local older = session(12, 120, NOW - W + 1)   -- in the window before
      api.get(same, nil, nil, 1000)
      api.get(older, nil, nil, 1000)
      local lsn = box.info.lsn
      local written = activity.flush()
      -- One row each: the use beside the first, the field of the second (nothing to delete beside it).
      local rows = box.info.lsn - lsn
      local seen = box.space.sessions_seen
      return {
        written = written, rows = rows,
        same_field = s:get(same)[5] == W, same_seen = seen:get(same) ~= nil and seen:get(same)[2] == NOW,
        older_field = s:get(older)[5] == NOW, older_seen = seen:get(older) == nil,
        answered = api.by_user(12, 100).activities[2] == NOW,
        gone_with_it = (function() api.del(same) return seen:get(same) == nil end)(),
      }
    `)
    expect(r).toEqual({ written: 2, rows: 2, same_field: true, same_seen: true, older_field: true, older_seen: true, answered: true, gone_with_it: true })
  })

  it('are not taken from a row of sessions_seen outside the window of the session\'s field', () => {
    const r = runLua<Record<string, unknown>>(`
      local W = activity.window(NOW)
      -- Left by a truncate (no trigger runs) for a key a session has again, stored a window before.
      local token = session(14, 140, NOW - W + 10)
      box.space.sessions_seen:replace{token, NOW}
      return {listed = api.by_user(14, 100).activities[1] == W - 10, live = expiry.is_live(s:get(token), W - 10 + settings.get().ttl + 5, token)}
    `)
    expect(r).toEqual({ listed: true, live: false })
  })

  it('are written before a list when they move a session to a later window', () => {
    const r = runLua<Record<string, unknown>>(`
      local W = activity.window(NOW)
      local moved = session(15, 150, NOW - W + 5)   -- stored in the window before
      local stays = session(15, 150, NOW - W)       -- stored at the start of this one
      api.get(moved, nil, nil, 1000)                -- its mark is in this window: not written yet
      local listed = api.by_user(15, 100).sessions
      return {first = listed[1][1]:str() == moved:str(), field = s:get(moved)[5] == NOW, stays = stays ~= nil}
    `)
    expect(r).toEqual({ first: true, field: true, stays: true })
  })

  it('order a list by the newest use within each window, page after page', () => {
    const r = runLua<{ pages: string[][], expected: string[] }>(`
      local W = activity.window(NOW)
      -- Stored in two windows; uses written beside them reorder each window but never cross it.
      local all = {}
      local function add(stored_age, used)
        local token = session(13, 130, stored_age)
        if used ~= nil then box.space.sessions_seen:replace{token, used} end
        all[#all + 1] = {token, used or (NOW - stored_age)}
      end
      add(NOW - W, W + 5)             -- this window: stored at its start, used 5 s in
      add(NOW - W, nil)
      add(NOW - (W + 1), W + 3)
      add(NOW - (W + 2), nil)
      add(NOW - W, W + 5)             -- a tie with the first: ordered by key
      add(NOW - W + 100, W - 150)     -- the window before: stored 100 s before this one, used 50 s later
      add(NOW - W + 250, nil)
      add(NOW - W + 290, W - 20)
      return {pages = pages_of(function(...) return api.by_user(13, 3, ...) end), expected = in_list_order(all)}
    `, { anySecond: true })
    expect(r.pages.map((p) => p.length)).toEqual([3, 3, 2])
    expect(r.pages.flat()).toEqual(r.expected)
  })

  it('are found for users whose ids Tarantool hands to Lua as 64-bit cdata', () => {
    const r = runLua<Record<string, unknown>>(`
      local user_id = 9007199254740991  -- 2^53 - 1, the largest the API accepts
      local token = session(user_id, 60, 30)
      api.get(token, nil, nil, 1000)
      return {now = NOW, listed = api.by_user(user_id, 100).activities[1], cdata = type(s:get(token)[2]) == 'cdata'}
    `)
    expect(r).toEqual({ now: r.now, listed: r.now, cdata: true })
  })

  it('belong to the session they were taken on, not a later one with the same token', () => {
    const r = runLua<Record<string, unknown>>(`
      local token = session(7, 70, 60)
      api.get(token, nil, nil, 1000)
      -- Gone, and a session with the same token made again before the mark is written.
      s:delete(token)
      s:insert{token, 7, 70, NOW - 5000, NOW - 3000}
      return {now = NOW, listed = api.by_user(7, 100).activities[1], written = activity.flush(), stored = stored(token)}
    `)
    expect(r).toEqual({ now: r.now, listed: (r.now as number) - 3000, written: 0, stored: (r.now as number) - 3000 })
  })

  it('keep a session alive: liveness and the expiry sweep see marks not yet written', () => {
    const r = runLua<Record<string, unknown>>(`
      settings.set({ttl = 100, sweep_interval = 3600})
      local used = session(3, 30, 90)   -- 90 s idle of 100
      local idle = session(3, 30, 90)
      api.get(used, nil, nil, 1000)
      -- 20 s later both have a stored activity past the TTL; only the unused one expired.
      local expired = expiry.sweep_batch(NOW + 20)
      return {expired = expired, used_kept = s:get(used) ~= nil, idle_kept = s:get(idle) ~= nil}
    `)
    expect(r).toEqual({ expired: 1, used_kept: true, idle_kept: false })
  })

  it('cannot be taken on a read-only instance, as the write they stand for could not', () => {
    const r = runLua<Record<string, unknown>>(`
      local token = session(8, 80, 60)
      box.cfg{read_only = true}
      local ok, err = pcall(api.get, token, nil, nil, 1000)
      box.cfg{read_only = false}
      api.get(token, nil, nil, 1000)
      activity.flush()
      box.cfg{read_only = true}
      -- Used again in the same second: nothing to write, so a read-only instance answers.
      local again = answered(api.get(token, nil, nil, 1000))
      return {failed = not ok, message = tostring(err), again = again == NOW}
    `)
    expect(r).toEqual({ failed: true, message: expect.stringMatching(/read-only/), again: true })
  })

  it('are kept when a flush fails, and written by the next one', () => {
    const r = runLua<Record<string, unknown>>(`
      local token = session(4, 40, 60)
      api.get(token, nil, nil, 1000)
      box.cfg{read_only = true}
      local failed = not pcall(activity.flush)
      local stored_while_ro = stored(token)
      box.cfg{read_only = false}
      local written = activity.flush()
      return {failed = failed, unchanged = stored_while_ro == NOW - 60, written = written, stored = stored(token) == NOW,
              listed = api.by_user(4, 100).activities[1] == NOW}
    `)
    expect(r).toEqual({ failed: true, unchanged: true, written: 1, stored: true, listed: true })
  })

  it('are all kept while flushes keep failing, with those taken between them, and written by the next one', () => {
    const r = runLua<Record<string, unknown>>(`
      local tokens = {}
      for i = 1, 1000 do tokens[i] = session(600000 + i % 100, 60, 60) end
      for i = 1, 500 do api.get(tokens[i], nil, nil, 1000) end
      local failures = 0
      for round = 1, 20 do
        box.cfg{read_only = true}
        if not pcall(activity.flush) then failures = failures + 1 end
        box.cfg{read_only = false}
        -- Taken between two failed flushes.
        for i = 500 + (round - 1) * 25 + 1, 500 + round * 25 do api.get(tokens[i], nil, nil, 1000) end
      end
      local written = activity.flush()
      local all = true
      for i = 1, #tokens do all = all and stored(tokens[i]) == NOW end
      return {failures = failures, written = written, all = all}
    `)
    expect(r).toEqual({ failures: 20, written: 1000, all: true })
  })

  it('are written when Tarantool shuts down', () => {
    const first = runLua<{ token: string, now: number }>(`
      activity.start()
      local token = session(5, 50, 60)
      api.get(token, nil, nil, 1000)
      return {token = token:str(), now = NOW}
    `)
    const again = runLua<{ activity: number }>(`
      return {activity = stored(uuid.fromstr('${first.token}'))}
    `)
    expect(again.activity).toBe(first.now)
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('the expiry fiber', () => {
  it('runs another pass when woken while a pass runs, instead of sleeping its interval', () => {
    const r = runLua<Record<string, number>>(`
      settings.set({ttl = 100000, sweep_interval = 3600})
      expiry.start()
      fiber.yield()
      -- Three batches to expire once the TTL is 1,000 s.
      for _ = 1, 250 do session(1, 10, 5000) end
      local passes = expiry.counters.passes
      settings.set({ttl = 1000})
      expiry.wakeup()
      -- The pass has begun: its first batch waits on the WAL.
      fiber.yield()
      local during = expiry.counters.passes - passes
      expiry.wakeup()
      fiber.sleep(0.5)
      return {during = during, passes = expiry.counters.passes - passes, left = s:len()}
    `, { anySecond: true })
    expect(r).toEqual({ during: 0, passes: 2, left: 0 })
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('pages of an address while IPv4 text remains', () => {
  it('merge the text and number forms in one order, each session once across the pages', () => {
    const r = runLua<{ pages: string[][], expected: string[] }>(`
      -- 0.0.0.20 is 20: schema 1 left some as text, the conversion (not started here) the rest.
      local all = {}
      for i = 1, 9 do
        local t = session(i, i % 2 == 0 and 20 or '0.0.0.20', i * 10)
        all[#all + 1] = {t, NOW - i * 10}
      end
      -- Two in the same second, one in each form: ordered by key, as the index orders ties.
      all[#all + 1] = {session(10, 20, 55), NOW - 55}
      all[#all + 1] = {session(11, '0.0.0.20', 55), NOW - 55}
      return {pages = pages_of(function(...) return api.by_ip(20, 3, ...) end), expected = in_list_order(all)}
    `, { anySecond: true })
    expect(r.pages.map((p) => p.length)).toEqual([3, 3, 3, 2])
    expect(r.pages.flat()).toEqual(r.expected)
  })
})

describe.skipIf(missing('tarantool', TARANTOOL_BIN))('signing out everywhere', () => {
  it('ends the sessions used while it runs, and keeps those created in a later second', () => {
    const r = runLua<Record<string, unknown>>(`
      -- 250 sessions: three batches, so the deletion yields twice.
      local tokens = {}
      for i = 1, 250 do tokens[i] = session(5, 50, 1000 + i) end
      local oldest = tokens[250]
      local later
      fiber.create(function()
        -- Runs at the first yield, after the first batch (the newest 100) is gone: the oldest
        -- session is used (it moves to the front of the walk), and a session made seconds later.
        s:update(oldest, {{'=', 5, NOW}})
        later = uuid.new()
        s:insert{later, 5, 50, NOW + 5, NOW + 5}
      end)
      local answer = api.del_user(5)
      return {deleted = answer.deleted, oldest_gone = s:get(oldest) == nil, later_kept = s:get(later) ~= nil,
              left = s.index.user_id:count({5})}
    `, { anySecond: true })
    expect(r).toEqual({ deleted: 250, oldest_gone: true, later_kept: true, left: 1 })
  })
})

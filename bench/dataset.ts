// The bench's sessions: made inside Tarantool in bulk through the admin console (not over HTTP),
// with tokens, users and ips that follow from the session's number, so the load generator can
// name any existing session without fetching it.
import type { AdminConsole } from '../lib/admin-console.js'

/** Sessions per user, and per ip. */
export const PER_USER = 5
const USER_BASE = 1_000_000
const PRELOAD_BATCH = 1000
// Sessions per console call: each call is one line on the console; keep it well under its timeout.
const PRELOAD_CHUNK = 100_000

/** The token of session number `i`: a valid UUID v4. */
export function tokenOf (i: number): string {
  return `be5c0000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`
}

// Users and ips are spread over the sessions by different permutations of their numbers (primes,
// so coprime with any total the bench uses), as users come in any order.
const USER_STRIDE = 104729
const IP_STRIDE = 7919

/** A random user among those of `total` sessions: each has about PER_USER sessions. */
export function randomUser (total: number): number {
  return USER_BASE + Math.floor(Math.random() * Math.floor(total / PER_USER))
}

/** The users randomUser picks from: `count` numbers from `first`. */
export function userRange (total: number): { first: number, count: number } {
  return { first: USER_BASE, count: Math.floor(total / PER_USER) }
}

/** The user of session `i` among `total`, as preload makes it. */
export function userOf (i: number, total: number): number {
  return USER_BASE + Math.floor(((i * USER_STRIDE) % total) / PER_USER)
}

/** The ip of session `i` among `total`: about PER_USER sessions per ip. */
export function ipOf (i: number, total: number): string {
  const k = Math.floor(((i * IP_STRIDE) % total) / PER_USER)
  return `10.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`
}

/**
 * Inserts sessions `from` to `to - 1` (numbering among `total` for the ips), last used
 * `ageSeconds` ago give or take up to a day, in transactions of PRELOAD_BATCH. `hashed`: each
 * stored under its token's hash (sessions.keys.hash: uuid version 0, RFC variant), as the service
 * stores them with TOKEN_STORAGE=hashed; tokenOf(i) still finds session i through that service.
 */
export async function preload (console: AdminConsole, opts: { from: number, to: number, total: number, ageSeconds: number, hashed?: boolean }): Promise<void> {
  for (let from = opts.from; from < opts.to; from += PRELOAD_CHUNK) {
    const to = Math.min(from + PRELOAD_CHUNK, opts.to)
    await console.eval(`
      local uuid, fiber = require('uuid'), require('fiber')
      local key_of = ${opts.hashed === true ? "require('sessions.keys').hash" : 'function (token) return token end'}
      local s = box.space.sessions
      local now = math.floor(fiber.time())
      local from, to, total, age = ${from}, ${to}, ${opts.total}, ${opts.ageSeconds}
      for first = from, to - 1, ${PRELOAD_BATCH} do
        box.begin()
        for i = first, math.min(first + ${PRELOAD_BATCH}, to) - 1 do
          local k = math.floor(((i * ${IP_STRIDE}) % total) / ${PER_USER})
          local activity = now - age - (age > 0 and i % 86400 or 0)
          s:insert{
            key_of(uuid.fromstr(string.format('be5c0000-0000-4000-8000-%012x', i))),
            ${USER_BASE} + math.floor(((i * ${USER_STRIDE}) % total) / ${PER_USER}),
            -- 10.x.y.z, stored as its number as the service stores IPv4 addresses.
            10 * 16777216 + bit.band(k, 16777215),
            activity - 86400, activity,
          }
        end
        box.commit()
      end
    `, { timeoutMs: 300_000 })
  }
}

/**
 * The crowded keys of the list rows, apart from every user and ip the other rows use: one user
 * with `userSessions` sessions (each at its own ip, 11.x.y.z) and one address with `ipSessions`
 * (each of its own user, from CROWD_USER + 1). Their tokens are apart from tokenOf's
 * (be5c0001-... and be5c0002-...). All live: last used within the past `userSessions` or
 * `ipSessions` seconds, one a second, so each page has sessions of distinct activities.
 */
export const CROWD_USER = 9_000_000
export const CROWD_IP = '12.0.0.1'

// Room to ask of memtx per crowded session before making them (about 170 B each at 1,000,000).
const CROWD_BYTES_PER_SESSION = 256

/**
 * Inserts the crowded user's and address's sessions (see CROWD_USER), in transactions of
 * PRELOAD_BATCH; fails first if memtx has no room for them (see removeMade).
 */
export async function preloadCrowd (console: AdminConsole, opts: { userSessions: number, ipSessions: number }): Promise<void> {
  await console.eval(`
    local uuid, fiber = require('uuid'), require('fiber')
    local s = box.space.sessions
    local slab = box.slab.info()
    local room = slab.quota_size - slab.arena_used
    local need = ${(opts.userSessions + opts.ipSessions) * CROWD_BYTES_PER_SESSION}
    if room < need then
      error(string.format('no room in memtx_memory for the crowded lists: %d bytes free, %d needed', room, need))
    end
    local now = math.floor(fiber.time())
    local crowd_ip = 12 * 16777216 + 1
    local function fill (n, prefix, user_of, ip_of)
      for first = 0, n - 1, ${PRELOAD_BATCH} do
        box.begin()
        for i = first, math.min(first + ${PRELOAD_BATCH}, n) - 1 do
          local activity = now - i
          s:insert{uuid.fromstr(string.format(prefix .. '-0000-4000-8000-%012x', i)), user_of(i), ip_of(i), activity - 86400, activity}
        end
        box.commit()
      end
    end
    fill(${opts.userSessions}, 'be5c0001', function () return ${CROWD_USER} end, function (i) return 11 * 16777216 + i end)
    fill(${opts.ipSessions}, 'be5c0002', function (i) return ${CROWD_USER} + 1 + i end, function () return crowd_ip end)
  `, { timeoutMs: 300_000 })
}

/** Lua that deletes the keys of the list `keys` from `space`, PRELOAD_BATCH a transaction, yielding between them. */
function deleteInBatches (space: string, keys: string): string {
  return `for first = 1, #${keys}, ${PRELOAD_BATCH} do
      box.begin()
      for i = first, math.min(first + ${PRELOAD_BATCH} - 1, #${keys}) do ${space}:delete(${keys}[i]) end
      box.commit()
      require('fiber').yield()
    end`
}

/**
 * Deletes the sessions the bench did not make in bulk (those /new made, with random tokens; the
 * bench's all start with be5c), in transactions of PRELOAD_BATCH; resolves with how many. At
 * 1,000,000 sessions, the /new and mixed rows add a few hundred thousand: with the crowded lists
 * on top, more than the embedded Tarantool's 256 MB of memtx_memory can hold. A session the
 * /rotate row rotated has a random token too, but keeps its first key (be5c...) as its `origin`
 * (field 9): it stays, one of the N.
 */
export async function removeMade (console: AdminConsole): Promise<number> {
  return await console.eval<number>(`
    local opt = require('sessions.space').opt
    local s = box.space.sessions
    local made = {}
    for _, t in s:pairs() do
      local first = opt(t, 9) or t[1]
      if first:str():sub(1, 4) ~= 'be5c' then made[#made + 1] = t[1] end
    end
    ${deleteInBatches('s', 'made')}
    return #made
  `, { timeoutMs: 300_000 })
}

/** Deletes the crowded user's and address's sessions; resolves with how many it deleted. */
export async function removeCrowd (console: AdminConsole): Promise<number> {
  return await console.eval<number>(`
    local s = box.space.sessions
    local removed = 0
    local function drain (index, key)
      while true do
        local keys = {}
        for _, t in index:pairs({key}, {iterator = 'EQ'}) do
          keys[#keys + 1] = t[1]
          if #keys >= ${PRELOAD_BATCH} then break end
        end
        if #keys == 0 then return end
        box.begin()
        for _, k in ipairs(keys) do s:delete(k) end
        box.commit()
        removed = removed + #keys
      end
    end
    drain(s.index.user_id, ${CROWD_USER})
    drain(s.index.ip, 12 * 16777216 + 1)
    return removed
  `, { timeoutMs: 300_000 })
}

/**
 * One user with `sessions` sessions (the /del_user rows'), none of them a user or ip of the other
 * rows: tokens `${tokenPrefix}-0000-4000-8000-<i>` (apart from tokenOf's and the crowd's), each at
 * its own ip (`firstIp` + i, as a number), all live (last used one a second apart, within the past
 * `sessions` seconds), in transactions of PRELOAD_BATCH; fails first if memtx has no room for
 * them. The same call again puts back the same sessions (what /del_user ended).
 */
export async function preloadUser (console: AdminConsole, opts: { userId: number, sessions: number, tokenPrefix: string, firstIp: number }): Promise<void> {
  await console.eval(`
    local uuid, fiber = require('uuid'), require('fiber')
    local s = box.space.sessions
    local slab = box.slab.info()
    local room = slab.quota_size - slab.arena_used
    local need = ${opts.sessions * CROWD_BYTES_PER_SESSION}
    if room < need then
      error(string.format('no room in memtx_memory for user ${opts.userId}: %d bytes free, %d needed', room, need))
    end
    local now = math.floor(fiber.time())
    for first = 0, ${opts.sessions} - 1, ${PRELOAD_BATCH} do
      box.begin()
      for i = first, math.min(first + ${PRELOAD_BATCH}, ${opts.sessions}) - 1 do
        local activity = now - i
        s:insert{uuid.fromstr(string.format('${opts.tokenPrefix}-0000-4000-8000-%012x', i)), ${opts.userId}, ${opts.firstIp} + i, activity - 86400, activity}
      end
      box.commit()
    end
  `, { timeoutMs: 300_000 })
}

/**
 * Ends a user's sessions as the service's /del_user does, without the service: its procedure
 * (sessions.del_user) called in a loop inside Tarantool until it is done, timed there
 * (clock.monotonic). What the work itself costs, apart from the calls, Node and HTTP.
 */
export async function deleteUserInTarantool (console: AdminConsole, userId: number): Promise<{ deleted: number, seconds: number, calls: number }> {
  return await console.eval<{ deleted: number, seconds: number, calls: number }>(`
    local clock = require('clock')
    local started_at = clock.monotonic()
    local deleted, calls, started = 0, 0, nil
    while true do
      local reply = sessions.del_user(${userId}, nil, nil, started)
      calls = calls + 1
      deleted = deleted + reply.deleted
      if reply.done then break end
      started = reply.started
    end
    return {deleted = deleted, seconds = clock.monotonic() - started_at, calls = calls}
  `, { timeoutMs: 300_000 })
}

/**
 * How many of the bench's sessions have been rotated (hold their first key, be5c..., as `origin`,
 * field 9): one a rotation chain.
 */
export async function countRotated (console: AdminConsole): Promise<number> {
  return await console.eval<number>(`
    local opt = require('sessions.space').opt
    local n = 0
    for _, t in box.space.sessions:pairs() do
      local first = opt(t, 9)
      if first ~= nil and first:str():sub(1, 4) == 'be5c' then n = n + 1 end
    end
    return n
  `, { timeoutMs: 300_000 })
}

/**
 * Deletes the rows a rotation leaves for a session's old key (sessions.aliases: kept for a retried
 * rotation until a minute after its grace, then deleted by the expiry fiber), in transactions of
 * PRELOAD_BATCH; resolves with how many: one a rotation but each chain's first (which updates the
 * row of the session's first key, deleted with the session). Removed here, their deletion does not
 * land in the rows after /rotate's.
 */
export async function removeRetiredKeys (console: AdminConsole): Promise<number> {
  return await console.eval<number>(`
    local rows = require('sessions.space').aliases()
    local keys = {}
    for _, row in rows:pairs() do
      if not row[4] then keys[#keys + 1] = row[1] end
    end
    ${deleteInBatches('rows', 'keys')}
    return #keys
  `, { timeoutMs: 300_000 })
}

/** How many sessions a user has. */
export async function countUser (console: AdminConsole, userId: number): Promise<number> {
  return await console.eval<number>(`return box.space.sessions.index.user_id:count({${userId}})`)
}

/** Removes every session. */
export async function truncate (console: AdminConsole): Promise<void> {
  // sessions_seen too: a truncate runs no trigger, so the rows of the sessions gone would stay.
  await console.eval('box.space.sessions:truncate() if box.space.sessions_seen ~= nil then box.space.sessions_seen:truncate() end')
}

export interface MemoryStats {
  sessions: number
  /** box.slab.info().arena_used / sessions: tuples and index extents, as allocated. */
  arenaUsedPerSession: number
  /** box.slab.info().items_used / sessions: the tuples alone. */
  itemsUsedPerSession: number
  /** box.info.memory().index / sessions: the index extents alone. */
  indexPerSession: number
  /** box.slab.info().quota_used / sessions: whole slabs taken from memtx_memory. */
  quotaUsedPerSession: number
  /** Per index: index:bsize() / sessions. */
  perIndex: Record<string, number>
  /** The session events kept when it was read, and the arena they took (removed before the reading). */
  events: { count: number, bytesEach: number }
}

/**
 * Tarantool's memory, per session. The session events the rows before it wrote (about 110 B each,
 * kept for EVENTS_RETENTION_SECONDS whatever the number of sessions) are removed first, and what
 * they took is reported apart: a session's memory is its tuple, its index entries and its
 * sessions_seen row.
 */
export async function memory (console: AdminConsole): Promise<MemoryStats> {
  return await console.eval<MemoryStats>(`
    local fiber = require('fiber')
    local events = box.space.sessions_events
    local kept = {count = 0, bytesEach = 0}
    if events ~= nil and events:len() > 0 then
      kept.count = events:len()
      local before = box.slab.info().arena_used
      events:truncate()
      -- memtx frees a truncated space's tuples in the background: until arena_used settles.
      local last, settled = -1, 0
      for _ = 1, 400 do
        fiber.sleep(0.05)
        local used = box.slab.info().arena_used
        if used == last then settled = settled + 1 else settled = 0 end
        if settled >= 5 then break end
        last = used
      end
      kept.bytesEach = (before - box.slab.info().arena_used) / kept.count
    end
    collectgarbage()
    local s = box.space.sessions
    local n = s:len()
    local slab, mem = box.slab.info(), box.info.memory()
    local per_index = {}
    for key, index in pairs(s.index) do
      if type(key) == 'string' then per_index[key] = tonumber(index:bsize()) / n end
    end
    return {
      sessions = n,
      arenaUsedPerSession = tonumber(slab.arena_used) / n,
      itemsUsedPerSession = tonumber(slab.items_used) / n,
      indexPerSession = tonumber(mem.index) / n,
      quotaUsedPerSession = tonumber(slab.quota_used) / n,
      perIndex = per_index,
      events = kept,
    }
  `)
}

/** How many sessions there are. */
export async function count (console: AdminConsole): Promise<number> {
  return await console.eval<number>('return box.space.sessions:len()')
}

/**
 * Makes sessions idle for more than `ttlSeconds` expired and waits until the expiry fiber has
 * removed them all (until the oldest activity left is within the TTL: a count to wait for would
 * be thrown off by a write of the previous phase that lands late); resolves with the seconds it
 * took and how many it removed. The service sets its own TTL again each time it reconnects to
 * Tarantool (a call unanswered for a whole timeout drops the connection): the wait puts this one
 * back, and says how often it had to.
 */
export async function sweepAll (console: AdminConsole, ttlSeconds: number, limitSeconds: number): Promise<{ seconds: number, expired: number, ttlReset: number }> {
  return await console.eval<{ seconds: number, expired: number, ttlReset: number }>(`
    local fiber = require('fiber')
    local settings = require('sessions.settings')
    local s = box.space.sessions
    local before = s:len()
    local started = fiber.clock()
    local reset = 0
    local function expired_left()
      local oldest = s.index.activity:min()
      -- The expiry fiber's own cutoff: whole seconds.
      return oldest ~= nil and oldest.activity < math.floor(fiber.time()) - ${ttlSeconds}
    end
    sessions.configure({ttl = ${ttlSeconds}})
    while expired_left() do
      if fiber.clock() - started > ${limitSeconds} then error('the sweep did not finish in time') end
      if settings.get().ttl ~= ${ttlSeconds} then
        reset = reset + 1
        sessions.configure({ttl = ${ttlSeconds}})
      end
      fiber.sleep(0.01)
    end
    return {seconds = fiber.clock() - started, expired = before - s:len(), ttlReset = reset}
  `, { timeoutMs: (limitSeconds + 30) * 1000 })
}

-- When a session is gone, and the expiry fiber that deletes those gone, on the writable instance.
-- A session is gone from the second min(activity + ttl, ends): `ttl` its own or the TTL setting,
-- `ends` from its lifetime. Reads check this themselves, so a session is never answered, listed or
-- counted past its time however late the sweep is; the sweep frees the memory.
-- A pass walks, oldest first, in bounded batches, only what is due:
-- - the activity index, for sessions under the TTL setting (a change of the setting applies to
--   them at once). Sessions with a ttl of their own met there are left to the next walk, and passed
--   over from then on (`resume`): their turn comes in
-- - the deadlines space (sessions.deadlines), by the second each is gone;
-- - and the aliases whose grace is over (sessions.aliases).
-- Each session it deletes gets its `expired` event (sessions.events). The fiber also writes the
-- `rotated` events due at the end of a rotation's grace, waking at that second for them.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local log = require('log')
local activity = require('sessions.activity')
local aliases = require('sessions.aliases')
local events = require('sessions.events')
local settings = require('sessions.settings')
local space = require('sessions.space')

local F = space.F
local opt = space.opt
local FIBER_NAME = 'sessions.expiry'
-- Deletes per transaction: small enough that a batch never holds the tx thread for long.
local BATCH = 100
-- Entries a batch looks at, at most, deleted or not.
local SCAN = 1000

local M = {}

-- Since this instance started, for the service's metrics.
M.counters = {
    expired = 0,         -- sessions deleted by the sweep
    scanned = 0,         -- entries the sweep looked at: what was due, and what it passed over
    batches = 0,         -- transactions that deleted some
    passes = 0,          -- full passes
    pass_seconds = 0,    -- time spent in passes, summed
    last_pass_seconds = 0,
}

-- Signalled when the settings change, so that a new interval or TTL applies at once; `woken`
-- keeps a signal sent while a pass runs (nothing waits then) for the end of that pass.
local wakeup = fiber.cond()
local woken = false
-- When the fiber waits: the time it wakes at (fiber.time()), for wake_at.
local sleeping_until = nil

-- A position in the activity index, {activity, key}, before which every entry is a session with a
-- ttl of its own: where the walk of the activity index starts. nil: from the oldest.
local resume = nil

-- The second from which the session `t` is gone if not used again, at the activity `activity_s`.
function M.expires(t, activity_s)
    local ttl = opt(t, F.ttl) or settings.get().ttl
    local ends = opt(t, F.ends)
    local at = activity_s + ttl
    if ends ~= nil and ends < at then return ends end
    return at
end

-- Whether the session `t` is live at now_s. Its newest activity (sessions.activity) counts:
-- `used` when the caller has it, else read when the stored one says it is gone (reading it costs
-- more than the rest); `used` = false: the tuple holds it already. key: the session's, if the
-- caller has it.
function M.is_live(t, now_s, key, used)
    if now_s < M.expires(t, t[F.activity]) then return true end
    if used == false then return false end
    local ends = opt(t, F.ends)
    if ends ~= nil and ends <= now_s then return false end
    return now_s < M.expires(t, used or activity.of(t, key))
end

local function delete_all(keys)
    local s = space.get()
    events.atomic(function()
        for _, key in ipairs(keys) do
            local t = s:delete(key)
            if t ~= nil then events.emit_if_room('revoked', t, 'expired') end
        end
    end)
    M.counters.expired = M.counters.expired + #keys
    M.counters.batches = M.counters.batches + 1
end

-- Deletes up to BATCH sessions under the TTL setting that are gone, oldest first; returns how
-- many, and whether it stopped at its bounds (more may be due).
-- `pass`: what the pass this batch belongs to knows ({at = the last entry its batches looked at,
-- clean = whether all before it were deleted or are the deadlines'}), so that its next batch goes
-- on from there; nil: a batch of its own.
local function sweep_activity(now_s, pass)
    pass = pass or {clean = true}
    local cutoff = now_s - settings.get().ttl
    local found, scanned, more = {}, 0, false
    -- Whether every entry met so far is deleted here or is the deadlines' to sweep.
    local clean, passed = pass.clean, resume
    local from, iterator = pass.at or resume, 'GT'
    if from == nil then iterator = 'GE' end
    for _, t in space.get().index.activity:pairs(from, {iterator = iterator}) do
        if t[F.activity] > cutoff then break end
        if #found >= BATCH or scanned >= SCAN then
            more = true
            break
        end
        scanned = scanned + 1
        local key = t[F.token]
        pass.at = {t[F.activity], key}
        if opt(t, F.ttl) ~= nil then
            if clean then passed = pass.at end
        elseif activity.of(t, key) <= cutoff then
            found[#found + 1] = key
            if clean then passed = pass.at end
        else
            -- Used since, within the window of its stored activity (sessions.activity): it
            -- stays where it is in this index, and is looked at again by the next pass.
            clean = false
        end
    end
    M.counters.scanned = M.counters.scanned + scanned
    if #found > 0 then delete_all(found) end
    -- Only once they are deleted: a failed delete leaves them before `resume` otherwise.
    if clean then resume = passed end
    pass.clean = clean
    return #found, more
end

-- Deletes up to BATCH sessions with a ttl or end of their own that are gone; as sweep_activity.
local function sweep_deadlines(now_s)
    local s = space.get()
    local found, orphans, scanned, more = {}, {}, 0, false
    for _, row in space.deadlines().index.at:pairs(nil, {iterator = 'GE'}) do
        if row[2] > now_s then break end
        if #found >= BATCH or scanned >= SCAN then
            more = true
            break
        end
        scanned = scanned + 1
        local t = s:get(row[1])
        if t == nil then
            -- None is expected (a row goes with its session), but one would stay forever.
            orphans[#orphans + 1] = row[1]
        elseif not M.is_live(t, now_s, row[1]) then
            -- Its row goes with it. One marked since `at` was written is live: its mark, written
            -- soon, moves the row.
            found[#found + 1] = row[1]
        end
    end
    M.counters.scanned = M.counters.scanned + scanned
    if #orphans > 0 then
        box.atomic(function()
            for _, key in ipairs(orphans) do space.deadlines():delete(key) end
        end)
    end
    if #found > 0 then delete_all(found) end
    return #found, more
end

-- Walks from the oldest again: sessions may have been stored before `resume` (sessions.token_hashing
-- moves them to new keys).
function M.rewind()
    resume = nil
end

-- One batch of each kind; returns how many sessions it deleted and whether more may be due.
function M.sweep_batch(now_s, pass)
    local by_ttl, more_ttl = sweep_activity(now_s, pass)
    local by_deadline, more_deadlines = sweep_deadlines(now_s)
    -- Before the retry window's deletes: a row's event comes first, however late the pass.
    local announced = aliases.announce_batch(now_s, BATCH)
    local retired = aliases.sweep_batch(now_s, BATCH)
    return by_ttl + by_deadline, more_ttl or more_deadlines or announced >= BATCH or retired >= BATCH
end

-- One full pass: batches until nothing due is left, yielding between them.
function M.sweep()
    local total = 0
    local started = fiber.clock()
    local pass = {clean = true}
    while not box.info.ro do
        local n, more = M.sweep_batch(math.floor(fiber.time()), pass)
        total = total + n
        fiber.yield()
        if not more then break end
    end
    local seconds = fiber.clock() - started
    M.counters.passes = M.counters.passes + 1
    M.counters.pass_seconds = M.counters.pass_seconds + seconds
    M.counters.last_pass_seconds = seconds
    if total > 0 then
        log.info('sessions: expired %d sessions in %.3f s', total, seconds)
    end
    return total
end

-- Waits until the next pass: the sweep interval, or the second the next `rotated` event is due
-- if sooner (`announcing`: after a pass that worked), or a wakeup().
local function sleep(announcing)
    local next_pass = fiber.time() + settings.get().sweep_interval
    while not woken do
        local at = next_pass
        local due = announcing and aliases.next_announcement() or nil
        if due ~= nil and due < at then at = due end
        local left = at - fiber.time()
        if left <= 0 then break end
        sleeping_until = at
        -- A signal without `woken` is wake_at's: the loop looks at what is due again.
        local signalled = wakeup:wait(left)
        sleeping_until = nil
        -- On 2.6 a cancel ends the wait as a signal would.
        fiber.testcancel()
        if not signalled then break end
    end
end

local function worker()
    while true do
        fiber.testcancel()
        woken = false
        local ok = false
        if box.info.ro then
            -- Another instance sweeps meanwhile: start from the oldest when this one writes again.
            M.rewind()
        else
            local err
            ok, err = pcall(M.sweep)
            -- A cancel caught by pcall must still stop the loop.
            fiber.testcancel()
            if not ok then
                M.rewind()
                log.error('sessions: expiry pass failed: %s', err)
            end
        end
        sleep(ok)
    end
end

-- Runs a pass now and sleeps with the current settings after it.
function M.wakeup()
    woken = true
    wakeup:signal()
end

-- Has the fiber pass at the second `at` (a unix second), if it would sleep past it: a `rotated`
-- event is due then (sessions.aliases).
function M.wake_at(at)
    if sleeping_until ~= nil and at < sleeping_until then wakeup:signal() end
end

-- Starts the fiber, first cancelling one left by an earlier load of this code. Run when the
-- member becomes writable (sessions.role).
function M.start()
    M.rewind()
    fibers.restart(FIBER_NAME, worker)
end

-- Stops the fiber: the member is read-only, another one sweeps (sessions.role).
function M.stop()
    fibers.stop(FIBER_NAME)
    M.rewind()
end

return M

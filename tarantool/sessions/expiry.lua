-- The expiry fiber: deletes sessions idle longer than the TTL, walking the activity index
-- oldest first in bounded batches, on the writable instance only.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local log = require('log')
local activity = require('sessions.activity')
local settings = require('sessions.settings')
local space = require('sessions.space')

local F = space.F
local FIBER_NAME = 'sessions.expiry'
-- Deletes per transaction: small enough that a batch never holds the tx thread for long.
local BATCH = 100

local M = {}

-- Since this instance started, for the service's metrics.
M.counters = {
    expired = 0,         -- sessions deleted by the sweep
    batches = 0,         -- transactions that deleted some
    passes = 0,          -- full passes
    pass_seconds = 0,    -- time spent in passes, summed
    last_pass_seconds = 0,
}

-- Signalled when the settings change, so that a new interval or TTL applies at once; `woken`
-- keeps a signal sent while a pass runs (nothing waits then) for the end of that pass.
local wakeup = fiber.cond()
local woken = false

-- A session is live while it has been used within the TTL; older ones are gone even
-- before the sweep deletes them. A mark of use not yet written counts (key: the session's, if
-- the caller has it).
function M.is_live(t, now_s, key)
    local cutoff = now_s - settings.get().ttl
    return t[F.activity] >= cutoff or activity.of(t, key) >= cutoff
end

-- Deletes at most BATCH expired sessions; returns how many it deleted. A session used since its
-- stored activity (a mark not yet written) is not expired.
function M.sweep_batch(now_s)
    local cutoff = now_s - settings.get().ttl
    local s = space.get()
    local keys = {}
    for _, t in s.index.activity:pairs(nil, {iterator = 'GE'}) do
        if t[F.activity] >= cutoff or #keys >= BATCH then break end
        local token = t[F.token]
        if activity.of(t, token) < cutoff then keys[#keys + 1] = token end
    end
    if #keys > 0 then
        box.atomic(function()
            for _, key in ipairs(keys) do s:delete(key) end
        end)
        M.counters.expired = M.counters.expired + #keys
        M.counters.batches = M.counters.batches + 1
    end
    return #keys
end

-- One full pass: batches until nothing expired is left, yielding between them.
function M.sweep()
    local total = 0
    local started = fiber.clock()
    repeat
        if box.info.ro then break end
        local n = M.sweep_batch(math.floor(fiber.time()))
        total = total + n
        fiber.yield()
    until n < BATCH
    local seconds = fiber.clock() - started
    M.counters.passes = M.counters.passes + 1
    M.counters.pass_seconds = M.counters.pass_seconds + seconds
    M.counters.last_pass_seconds = seconds
    if total > 0 then
        log.info('sessions: expired %d sessions in %.3f s', total, seconds)
    end
    return total
end

local function worker()
    while true do
        fiber.testcancel()
        woken = false
        if not box.info.ro then
            local ok, err = pcall(M.sweep)
            -- A cancel caught by pcall must still stop the loop.
            fiber.testcancel()
            if not ok then
                log.error('sessions: expiry pass failed: %s', err)
            end
        end
        if not woken then wakeup:wait(settings.get().sweep_interval) end
    end
end

-- Runs a pass now and sleeps with the current settings after it.
function M.wakeup()
    woken = true
    wakeup:signal()
end

-- Starts the fiber, first cancelling one left by an earlier load of this code.
function M.start()
    fibers.restart(FIBER_NAME, worker)
end

return M

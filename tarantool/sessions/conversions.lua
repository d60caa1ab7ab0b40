-- The runner of the background conversions of stored data (sessions.ipv4_upgrade,
-- sessions.token_hashing): one fiber on the writable member, started and stopped by the role
-- hooks (sessions.role), that converts while the instance serves.
--
-- A conversion is a table:
--   what        what it does, for the log ('hashing plain tokens')
--   needed()    whether there is something to convert; asked before every batch
--   step(from)  converts one bounded batch, from `from` (nil: the start), in its own transaction;
--               returns whether it reached the end, where the next batch starts, and how many
--               it converted
--   finish()    records the end (in _schema), so that needed() says no from then on
-- The runner yields between batches. A conversion that fails (a WAL error, a full arena) is
-- logged once per streak of failures and run again from the start RETRY seconds later: what is
-- converted already is passed over. On a read-only member it stops at the next batch; the
-- writable member goes on from the start.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local log = require('log')

local FIBER_NAME = 'sessions.conversions'
-- Seconds before a conversion that failed, or was stopped by a read-only member, runs again.
local RETRY = 1

local M = {}

local wakeup = fiber.cond()
-- Whether wakeup() was called since the fiber last looked at what is needed.
local woken = false

-- Runs `c` from the start, a batch at a time: true when it is over (done, or not needed), false
-- when the member turned read-only.
local function run(c)
    local from, total = nil, 0
    local started = fiber.clock()
    while c.needed() do
        if box.info.ro then return false end
        local done, converted
        done, from, converted = c.step(from)
        total = total + converted
        if done then
            c.finish()
            if total > 0 then
                log.info('sessions: %s: %d converted in %.1f s', c.what, total, fiber.clock() - started)
            end
            return true
        end
        fiber.yield()
    end
    return true
end

-- Runs `c`; whether it is over. `failing` holds the conversions whose last run failed.
local function attempt(c, failing)
    local ok, over = pcall(run, c)
    -- A cancel caught by pcall must still stop the fiber.
    fiber.testcancel()
    if ok then
        if over then failing[c] = nil end
        return over
    end
    -- An error of a member turned read-only is that: the writable member converts the rest.
    if not box.info.ro and not failing[c] then
        log.error('sessions: %s failed, trying again every %d s: %s', c.what, RETRY, over)
        failing[c] = true
    end
    return false
end

local function loop(list)
    local failing = {}
    while true do
        woken = false
        local over = true
        for _, c in ipairs(list) do
            over = attempt(c, failing) and over
        end
        if not woken then
            -- Until the settings change (wakeup), or to try again.
            wakeup:wait(not over and RETRY or nil)
            -- On 2.6 a cancel ends the wait as a signal would.
            fiber.testcancel()
        end
    end
end

-- Starts the fiber that runs the conversions of `list`, one after the other, each when needed;
-- a fiber of an earlier load of this code is cancelled first. Run when the member becomes
-- writable (sessions.role).
function M.start(list)
    fibers.restart(FIBER_NAME, function() loop(list) end)
end

-- Has the fiber look again at what is needed: the settings changed (sessions.configure).
function M.wakeup()
    woken = true
    wakeup:signal()
end

-- Stops the fiber: the member is read-only (sessions.role).
function M.stop()
    fibers.stop(FIBER_NAME)
end

return M

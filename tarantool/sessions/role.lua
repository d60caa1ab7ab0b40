-- Follows this member's role at run time, as vshard's storage does: a fiber waits on
-- box.ctl.wait_rw() / wait_ro() and runs the `writable` hook when the member becomes writable,
-- the `read_only` hook when it stops being so. What must run on the writable member alone (schema
-- migrations, access, the expiry sweep, the activity writer, conversions) hangs on these hooks.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local log = require('log')

local FIBER_NAME = 'sessions.role'
-- The longest wait between two looks at the role, should a change not wake the fiber.
local POLL = 1

local M = {}

-- Whether the `writable` hook ran to its end and no `read_only` hook since: the background work
-- runs here.
M.writable = false
-- Role changes since this instance started.
M.changes = 0

-- A newly writable member on a Tarantool without box.ctl.promote() (2.6.0 to 2.6.2, 2.7.0 and
-- 2.7.1) refuses every synchronous write (ER_UNCOMMITTED_FOREIGN_SYNC_TXNS) while its queue holds
-- the previous leader's transactions, and only this clears it. It first waits up to
-- 2 x replication_synchro_timeout for the old leader to settle them itself; it does nothing when
-- the queue is empty (a planned switchover). Where promote() exists, it is what made the member
-- writable, and it took the queue over.
-- On 2.10 and later without elections, a synchronous write needs an owner of the queue
-- (ER_SYNC_QUEUE_UNCLAIMED otherwise): the member that bootstraps the set claims it.
local function settle_queue()
    if box.ctl.promote == nil then
        if box.ctl.clear_synchro_queue ~= nil then box.ctl.clear_synchro_queue() end
        return
    end
    local synchro = box.info.synchro
    local mode = box.cfg.election_mode
    if (mode == nil or mode == 'off') and synchro ~= nil and synchro.queue.owner == 0
            and #(box.cfg.replication or {}) > 0 then
        box.ctl.promote()
    end
end

-- Whether the queue could be settled (logged when not: the role fiber tries again).
local function settled()
    local ok, err = pcall(settle_queue)
    if not ok then log.warn('sessions: cannot take the synchronous queue over yet: %s', err) end
    return ok
end

local function become_writable(hooks)
    if not settled() then return false end
    -- Writable still: a pass that saw the role change does nothing.
    if box.info.ro then return false end
    hooks.writable()
    M.writable = true
    M.changes = M.changes + 1
    log.info('sessions: writable member: background work started')
    return true
end

local function become_read_only(hooks)
    M.writable = false
    M.changes = M.changes + 1
    hooks.read_only()
    log.info('sessions: read-only member: background work stopped')
end

local function wait(fn)
    -- Both raise on their timeout; a cancel is raised again by testcancel.
    pcall(fn, POLL)
    fiber.testcancel()
end

local function loop(hooks)
    -- Failures of the writable hook are logged when they start, not at every retry.
    local failing = false
    while true do
        if box.info.ro then
            if M.writable then become_read_only(hooks) end
            if hooks.idle ~= nil then hooks.idle() end
            wait(box.ctl.wait_rw)
        elseif not M.writable then
            local ok, err = pcall(become_writable, hooks)
            fiber.testcancel()
            if not ok then
                if not failing then log.error('sessions: becoming the writable member failed, retrying: %s', err) end
            end
            if not ok or not M.writable then fiber.sleep(POLL) end
            failing = not ok
        else
            wait(box.ctl.wait_ro)
        end
    end
end

-- Runs the `writable` hook now if this member is writable (an error is raised to the caller: at
-- boot, a migration that fails stops the instance), then follows the role in a fiber. hooks:
-- writable(), read_only(), and idle(), run about every second on a read-only member. Safe to call
-- again after a code reload: the fiber of the earlier load is replaced.
function M.start(hooks)
    M.writable = false
    if not box.info.ro then become_writable(hooks) end
    fibers.restart(FIBER_NAME, function() loop(hooks) end)
end

return M

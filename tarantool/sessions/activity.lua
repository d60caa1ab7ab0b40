-- Marks of use: a /get that changes nothing but `activity` does not write the session at once.
-- The new second is kept here and written by a fiber, FLUSH_INTERVAL later, in transactions of
-- BATCH sessions. A /get then reads without waiting on the WAL, and a thousand activity updates
-- cost a few WAL writes instead of a thousand. Everything that reads `activity` (the answers,
-- liveness, the lists, the expiry sweep) sees the pending mark through M.of(), so the delay never
-- shows; a crash of Tarantool loses at most the last FLUSH_INTERVAL of marks, never a session.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local log = require('log')
local space = require('sessions.space')

local F = space.F
local FIBER_NAME = 'sessions.activity'
local FLUSH_INTERVAL = 0.1
-- Updates per transaction: a batch holds the tx thread for well under a millisecond.
local BATCH = 100

local M = {}

-- Marks: the token's 16 bytes -> unix second, with the token itself (the flush's key), the
-- session's `create` (a mark is for the session it was taken on, not a later one with the same
-- token), and the user ids and ips of the sessions marked, so that a list looks for marks only
-- where there may be some (reading a uuid field costs more than the rest of a list). A flush
-- takes the whole set and starts a new one; the set it writes stays visible until it is done,
-- since its batches wait on the WAL in turn.
local function new_set()
    return {marks = {}, tokens = {}, creates = {}, users = {}, ips = {}}
end
local taking = new_set()
local writing = nil
-- Broadcast when a flush ends, for those waiting on it (M.settle).
local flushed = fiber.cond()

-- A user id or ip as a table key: large user ids come out of tuples as uint64 cdata, and cdata
-- keys compare by identity.
local function key_of(value)
    if type(value) == 'cdata' then return tonumber(value) end
    return value
end

-- Since this instance started, for the service's metrics.
M.counters = {
    marked = 0,    -- marks taken
    written = 0,   -- sessions whose activity a flush wrote
}

-- The mark of `set` for the session `t` (`key`: its token's bytes) if later than `latest`, else
-- `latest`. A mark taken on an earlier session under the same token is not its.
local function later(set, key, t, latest)
    local mark = set.marks[key]
    if mark ~= nil and mark > latest and set.creates[key] == t[F.create] then return mark end
    return latest
end

-- The session's activity: its stored one, or a newer mark. token: the session's, when the caller
-- has it already (else read from the tuple).
function M.of(t, token)
    local key = (token or t[F.token]):bin()
    local latest = later(taking, key, t, t[F.activity])
    if writing ~= nil then latest = later(writing, key, t, latest) end
    return latest
end

-- Whether any session whose `field` ('user_id' or 'ip') is `value` may have a mark.
function M.may_be_marked(field, value)
    local set = field == 'user_id' and 'users' or 'ips'
    value = key_of(value)
    return taking[set][value] ~= nil or (writing ~= nil and writing[set][value] ~= nil)
end

-- The tuple as the API answers it: with its marked activity, if newer.
function M.current(t, token)
    local now_s = M.of(t, token)
    if now_s == t[F.activity] then return t end
    return t:transform(F.activity, 1, now_s)
end

-- Marks the session `t` (whose token is `token`) as used at now_s, to be written by a flush.
-- Fails on a read-only instance, as the write it stands for would: no flush would ever write it.
function M.mark(token, t, now_s)
    if box.info.ro then box.error(box.error.READONLY) end
    local key = token:bin()
    local mark = taking.marks[key]
    if mark == nil or mark < now_s then
        taking.marks[key] = now_s
        taking.tokens[key] = token
        taking.creates[key] = t[F.create]
        taking.users[key_of(t[F.user_id])] = true
        taking.ips[key_of(t[F.ip])] = true
        M.counters.marked = M.counters.marked + 1
    end
end

-- Writes the marks taken so far, where the stored activity is older (the session may have been
-- written since, or deleted). Returns how many it wrote. On failure the marks not written are
-- taken again, for the next flush.
function M.flush()
    if writing ~= nil then return 0 end
    writing, taking = taking, new_set()
    local s = space.get()
    local keys, seconds, creates = {}, {}, {}
    local written = 0
    -- One update operation per second marked: a flush's marks share a few seconds.
    local ops_of = {}
    local function write()
        -- Applied in memory before the commit yields: readers see them from here on.
        box.atomic(function()
            for i = 1, #keys do
                local t = s:get(keys[i])
                if t ~= nil and t[F.create] == creates[i] and t[F.activity] < seconds[i] then
                    local ops = ops_of[seconds[i]]
                    if ops == nil then
                        ops = {{'=', F.activity, seconds[i]}}
                        ops_of[seconds[i]] = ops
                    end
                    s:update(keys[i], ops)
                    written = written + 1
                end
            end
        end)
        keys, seconds, creates = {}, {}, {}
    end
    local ok, err = pcall(function()
        for key, now_s in pairs(writing.marks) do
            keys[#keys + 1] = writing.tokens[key]
            seconds[#seconds + 1] = now_s
            creates[#creates + 1] = writing.creates[key]
            if #keys >= BATCH then write() end
        end
        if #keys > 0 then write() end
    end)
    M.counters.written = M.counters.written + written
    local done = writing
    writing = nil
    flushed:broadcast()
    if not ok then
        -- Take them all again: those written already are skipped by the next flush.
        for key, now_s in pairs(done.marks) do
            if (taking.marks[key] or 0) < now_s then
                taking.marks[key] = now_s
                taking.tokens[key] = done.tokens[key]
                taking.creates[key] = done.creates[key]
            end
        end
        for user_id in pairs(done.users) do taking.users[user_id] = true end
        for ip in pairs(done.ips) do taking.ips[ip] = true end
        error(err)
    end
    return written
end

-- Writes the marks that may concern sessions whose `field` is `value`, so that walking an index
-- ordered by activity meets them in the order of their use (a list's page). Bounded: marks taken
-- while it waits may be left (those sessions were used during the walk).
function M.settle(field, value)
    for _ = 1, 3 do
        if box.info.ro or not M.may_be_marked(field, value) then return end
        if writing ~= nil then
            flushed:wait(1)
        else
            M.flush()
        end
    end
end

local function worker()
    -- Failures are logged when they start and end, not at every retry (ten a second).
    local failing = false
    while true do
        fiber.sleep(FLUSH_INTERVAL)
        fiber.testcancel()
        if next(taking.marks) ~= nil and not box.info.ro then
            local ok, err = pcall(M.flush)
            fiber.testcancel()
            if not ok and not failing then
                log.error('sessions: writing activity failed, retrying every %.1f s: %s', FLUSH_INTERVAL, err)
            elseif ok and failing then
                log.info('sessions: writing activity works again')
            end
            failing = not ok
        end
    end
end

-- Starts the fiber, first cancelling one left by an earlier load of this code; writes the marks
-- pending when Tarantool shuts down. Run when the member becomes writable (sessions.role).
function M.start()
    fibers.restart(FIBER_NAME, worker)
    if M.on_shutdown == nil then
        M.on_shutdown = function()
            if next(taking.marks) ~= nil and not box.info.ro then pcall(M.flush) end
        end
        box.ctl.on_shutdown(M.on_shutdown)
    end
end

-- Stops the fiber: the member is read-only (sessions.role). Marks not written yet stay here, for
-- reads, and are written if it becomes writable again; a planned switchover writes them first
-- (sessions.switchover).
function M.stop()
    fibers.stop(FIBER_NAME)
end

return M

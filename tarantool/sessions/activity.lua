-- Marks of use: a /get that changes nothing but `activity` does not write the session at once.
-- The new second is kept here and written by a fiber, FLUSH_INTERVAL later, in transactions of
-- BATCH sessions. A /get then reads without waiting on the WAL, and a thousand activity updates
-- cost a few WAL writes instead of a thousand. Everything that reads `activity` (the answers,
-- liveness, the lists, the expiry sweep) sees the pending mark through M.of(), so the delay never
-- shows; a crash of Tarantool loses at most the last FLUSH_INTERVAL of marks, never a session.
--
-- Where a mark is written. The session's `activity` field orders three tree indexes (user_id,
-- ip, activity): writing it moves the tuple in each, which cost more than all the rest of a /get.
-- So the field changes only when the session's newest use is in another STEP-second window than
-- the field's value (M.window); a use within the same window is written to the sessions_seen
-- space instead ({key, second}: one hash index, nothing to move). A session's activity is the
-- newest of the field, its sessions_seen row and a pending mark, and is always in the field's
-- window: the indexes order sessions by window exactly, and a list sorts each window it reads by
-- the newest activity (sessions.lists). A session with a ttl or end of its own always has its
-- field written: its row in sessions_deadlines follows the field.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local uuid = require('uuid')
local deadlines = require('sessions.deadlines')
local space = require('sessions.space')

local F = space.F
local FIBER_NAME = 'sessions.activity'
local FLUSH_INTERVAL = 0.1
-- Updates per transaction: a batch holds the tx thread for well under a millisecond.
local BATCH = 100
-- The most keys a new set of marks is made ready for: it grows past it as marks come.
local SET_SIZE_MAX = 4096
-- The window of the indexes' order, in seconds: a session used every few seconds moves in the
-- indexes once per window, and a list sorts at most a window's worth of one user's or address's
-- sessions at a time.
local STEP = 300

local M = {STEP = STEP}

-- The first second of the window of second `s`.
function M.window(s)
    return s - s % STEP
end

-- Marks: the key's 16 bytes -> unix second, and the session's `create` (a mark is for the session
-- it was taken on, not a later one stored under the same key); and the user ids and ips of the
-- sessions whose mark is in a later window than their field (it will move them in the indexes), so
-- that a list settles them first only where there may be some. A flush takes the whole set and
-- starts a new one; the set it writes stays visible until it is done, since its batches wait on
-- the WAL in turn.
-- `count`: how many keys `marks` holds (a test of next() would keep the callers' loops out of
-- LuaJIT's compiler, which does not compile it).
local function new_set(size)
    return {marks = table.new(0, size), creates = table.new(0, size), count = 0, users = {}, ips = {}}
end

-- A user id or ip as a table key: large user ids come out of tuples as uint64 cdata, and cdata
-- keys compare by identity.
local function key_of(value)
    if type(value) == 'cdata' then return tonumber(value) end
    return value
end
local taking = new_set(0)
local writing = nil
-- The keys marked in the current second: a session used again in the same second is not marked
-- again, though its mark may be written already (the field is not rewritten within a window).
local second, this_second, this_second_count = 0, {}, 0
-- Broadcast when a flush ends, for those waiting on it (M.settle).
local flushed = fiber.cond()

-- Since this instance started, for the service's metrics.
M.counters = {
    marked = 0,    -- marks taken
    written = 0,   -- sessions whose activity a flush wrote
}

-- The mark of `set` for the session `t` (`bin`: its key's bytes) if later than `latest`, else
-- `latest`. A mark taken on an earlier session under the same key is not its.
local function later(set, bin, t, latest)
    local mark = set.marks[bin]
    if mark ~= nil and mark > latest and set.creates[bin] == t[F.create] then return mark end
    return latest
end

-- The session's activity: its stored one, or a newer written or pending one. key: the
-- session's, when the caller has it already (else read from the tuple).
function M.of(t, key)
    key = key or t[F.token]
    local latest = t[F.activity]
    local seen = space.seen()
    -- None on a member whose schema is older (a replica on newer code, before the leader migrates).
    local row = seen ~= nil and seen:get(key) or nil
    -- A row is the session's only within the window of its field: the flush writes it there and
    -- deletes it when the field moves on. One from elsewhere is stale (the field was written since)
    -- or left by a truncate of the sessions space, which runs no trigger.
    if row ~= nil and row[2] > latest and M.window(row[2]) == M.window(latest) then latest = row[2] end
    if writing == nil and taking.count == 0 then return latest end
    local bin = key:bin()
    latest = later(taking, bin, t, latest)
    if writing ~= nil then latest = later(writing, bin, t, latest) end
    return latest
end

-- Whether a session whose `field` ('user_id' or 'ip') is `value` may have a mark that moves it
-- to another window of the indexes.
function M.may_move(field, value)
    local set = field == 'user_id' and 'users' or 'ips'
    value = key_of(value)
    return taking[set][value] ~= nil or (writing ~= nil and writing[set][value] ~= nil)
end

-- The tuple as the API answers it: with its newest activity, if newer than the stored one.
function M.current(t, key)
    local now_s = M.of(t, key)
    if now_s == t[F.activity] then return t end
    return t:transform(F.activity, 1, now_s)
end

-- Marks the session `t` (stored under `key`) as used at now_s, to be written by a flush.
-- Fails on a read-only instance, as the write it stands for would: no flush would ever write it.
-- A session marked already in this second stands for no new write.
function M.mark(key, t, now_s)
    local bin = key:bin()
    if now_s == second and this_second[bin] then return end
    if box.info.ro then box.error(box.error.READONLY) end
    if now_s ~= second then
        -- Sized as the last second's: the table does not grow by rehashing all over again.
        second, this_second = now_s, table.new(0, this_second_count)
        this_second_count = 0
    end
    this_second[bin] = true
    this_second_count = this_second_count + 1
    local marked = taking.marks[bin]
    if (marked or 0) < now_s then
        if marked == nil then taking.count = taking.count + 1 end
        taking.marks[bin] = now_s
        taking.creates[bin] = t[F.create]
        if M.window(now_s) ~= M.window(t[F.activity]) then
            taking.users[key_of(t[F.user_id])] = true
            taking.ips[key_of(t[F.ip])] = true
        end
        M.counters.marked = M.counters.marked + 1
    end
end

-- Writes the marks taken so far, where the session's activity is older (it may have been written
-- since, or deleted). Returns how many it wrote. On failure the marks not written are taken
-- again, for the next flush.
function M.flush()
    if writing ~= nil then return 0 end
    -- Sized as the last one, up to SET_SIZE_MAX: after failed flushes the last one holds every
    -- mark not written, and a set of them all, made ten times a second, is garbage at that pace.
    writing, taking = taking, new_set(math.min(taking.count, SET_SIZE_MAX))
    local s = space.get()
    local seen = space.seen()
    local bins, seconds, creates = {}, {}, {}
    local written = 0
    -- One update operation per second marked: a flush's marks share a few seconds.
    local ops_of = {}
    local function write()
        -- Applied in memory before the commit yields: readers see them from here on.
        box.atomic(function()
            for i = 1, #bins do
                local key = uuid.frombin(bins[i])
                local t = s:get(key)
                local at = seconds[i]
                if t ~= nil and t[F.create] == creates[i] and t[F.activity] < at then
                    if M.window(at) == M.window(t[F.activity]) and deadlines.at(t) == nil then
                        seen:replace{key, at}
                    else
                        local ops = ops_of[at]
                        if ops == nil then
                            ops = {{'=', F.activity, at}}
                            ops_of[at] = ops
                        end
                        s:update(key, ops)
                        -- The field holds the newest now; a row of the older window is stale.
                        -- Deleted only if there is one: a delete of nothing is still a WAL row.
                        if seen:get(key) ~= nil then seen:delete(key) end
                    end
                    written = written + 1
                end
            end
        end)
        bins, seconds, creates = {}, {}, {}
    end
    local ok, err = pcall(function()
        for bin, now_s in pairs(writing.marks) do
            bins[#bins + 1] = bin
            seconds[#seconds + 1] = now_s
            creates[#creates + 1] = writing.creates[bin]
            if #bins >= BATCH then write() end
        end
        if #bins > 0 then write() end
    end)
    M.counters.written = M.counters.written + written
    local done = writing
    writing = nil
    flushed:broadcast()
    if not ok then
        -- Keep them all for the next flush (those written already are skipped by it): the marks
        -- taken meanwhile join the set this flush took, which goes on as the one taking marks. The
        -- other way round, a copy of every mark made at each failed flush (ten a second while a
        -- full memtx arena refuses every write) outgrew what LuaJIT's collector freed with a
        -- million sessions in use, until LuaJIT's heap was full and Tarantool stopped.
        for bin, now_s in pairs(taking.marks) do
            local marked = done.marks[bin]
            if (marked or 0) < now_s then
                if marked == nil then done.count = done.count + 1 end
                done.marks[bin] = now_s
                done.creates[bin] = taking.creates[bin]
            end
        end
        for user_id in pairs(taking.users) do done.users[user_id] = true end
        for ip in pairs(taking.ips) do done.ips[ip] = true end
        taking = done
        error(err)
    end
    return written
end

-- Writes the pending marks when some may move a session whose `field` is `value` to another
-- window, so that walking an index ordered by activity meets each session in the window of its
-- last use (a list's page). Bounded: marks taken while it waits may be left (those sessions were
-- used during the walk).
function M.settle(field, value)
    for _ = 1, 3 do
        if box.info.ro or not M.may_move(field, value) then return end
        if writing ~= nil then
            flushed:wait(1)
        else
            M.flush()
        end
    end
end

-- What follows a session's deletion or move to another key (sessions.triggers): its
-- sessions_seen row goes with it.
function M.on_replace(old, new)
    local seen = space.seen()
    if seen ~= nil and old ~= nil and (new == nil or new[F.token] ~= old[F.token])
            and seen:get(old[F.token]) ~= nil then
        seen:delete(old[F.token])
    end
end

-- Whether marks wait to be written, and this member can write them.
local function due()
    return taking.count > 0 and not box.info.ro
end

local function worker()
    fibers.every(FLUSH_INTERVAL, due, M.flush, 'writing activity')
end

-- Starts the fiber, first cancelling one left by an earlier load of this code; writes the marks
-- pending when Tarantool shuts down. Run when the member becomes writable (sessions.role).
function M.start()
    fibers.restart(FIBER_NAME, worker)
    if M.on_shutdown == nil then
        M.on_shutdown = function()
            if due() then pcall(M.flush) end
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

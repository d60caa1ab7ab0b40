-- Session events: what happened to sessions, in order, kept EVENTS_RETENTION seconds (the
-- settings' events_retention) for the service's event stream (GET /events) and its JSON pages.
-- emit() writes an event in the transaction of the change it describes, never after: the change
-- and its event are committed together or not at all. The one exception is the expiry sweep on a
-- full memtx arena (emit_if_room): the sessions are deleted all the same, so that memory comes
-- back, and their `expired` events are counted as unrecorded instead.
--
-- What the service gets (procedures sessions.events_page and sessions.events_wait):
--
-- An event is a tuple of sessions_events, {seq, time, type, user_id, key, ip[, reason]}:
--   seq      unsigned, the event's id. Increases from each event to the next, across restarts and
--            failovers (a sequence replicated with the data); not dense (a transaction rolled back
--            takes numbers too).
--   time     unsigned, unix milliseconds of the writer's clock (which may step back: seq orders).
--   type     'created'  by /new
--            'revoked'  the session ended; `reason` says how
--            'rotated'  a token of the session stopped working because /rotate gave the session
--                       another: in /rotate's transaction, or without it when the old token's grace
--                       ends (sessions.aliases, written by the expiry fiber at that second)
--            'updated'  a /get changed its ip or extra (one that only marks use writes nothing)
--            'reset'    not about one session: the ids of sessions changed, and whatever was cached
--                       of them must go (reason 'tokens_hashed': TOKEN_STORAGE=hashed moved
--                       sessions stored under their plain token to their hashed key, and a
--                       session's id is made of its key; written by each batch of the conversion
--                       that moved any, in its transaction). Its user_id is 0, its key the nil
--                       uuid and its ip 0.
--   user_id  unsigned.
--   key      uuid: the key the session's id is made of (its `origin`, else its key), of which the
--            service makes the id as for a session (session-codec.ts). With plain token storage
--            it is the token itself: the service sends the id made of it, never the key.
--   ip       the session's ip after the change, as stored: IPv4 its number, IPv6 text.
--   reason   on 'revoked': 'deleted' (/del), 'signed_out' (/del_user), 'ip_signed_out'
--            (/del_ip), 'evicted' (/new past the user's limit), 'expired' (the expiry sweep, or a
--            /del, /del_user or /del_ip that found the session gone already); on 'reset':
--            'tokens_hashed'.
-- Nothing else writes events: sessions written or deleted from the admin console, a truncate, the
-- IPv4 conversion (ipv4_upgrade: the ip a session answers does not change) and the marks of use
-- have none.
--
-- sessions.events_page(after, limit, user_id) -> {events = {event, ...}, ips = {each one's ip as text}, oldest = seq,
--   newest = seq}
--   Up to `limit` committed events with seq > after (an integer, 0: from the first), oldest first
--   (limit 1 to 1000; more is taken as 1000); only user `user_id`'s when given (else nil). `newest`
--   is the newest committed seq (0 before the first event), `oldest` the oldest kept, or newest + 1
--   when none is kept. On the writable member, the caller has missed events, and must start again
--   (the stream's `reset`), when after + 1 < oldest (they were dropped past their retention) or
--   after > newest (an id this Tarantool never gave: it was restored from an older backup, or is
--   another one). A read-only member answers the same once replication has brought the events to
--   it, and a newest behind the writable member's meanwhile: read from the writable one.
-- sessions.events_wait(after, timeout, limit) -> the same, unfiltered (limit optional: 1000)
--   Answers at once when committed events follow `after`; else waits until one is committed, at
--   most `timeout` seconds (0 to 10; more is taken as 10), and answers then (an empty page when
--   none came). While it waits it holds no transaction and no lock, only the request's fiber, of
--   which Tarantool runs net_msg_max (768 by default) at once: a service process keeps one call
--   waiting and shares its answer among its subscribers.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local ips = require('sessions.ips')
local settings = require('sessions.settings')
local space = require('sessions.space')
local uuid = require('uuid')

local F = space.F
local E = {seq = 1, time = 2, type = 3, user_id = 4, key = 5, ip = 6, reason = 7}
local FIBER_NAME = 'sessions.events'
-- The most events a page holds: 1000 are about 60 KB.
local PAGE_MAX = 1000
-- The longest an events_wait waits: a service process calls again, and notices a dead Tarantool
-- by its answer not coming.
local WAIT_MAX = 10
-- Events deleted per transaction by the retention sweep, and seconds between its passes.
local BATCH = 1000
local PASS_INTERVAL = 1

local M = {E = E}

-- Since this instance started, for the service's metrics.
M.counters = {
    swept = 0,        -- events deleted past their retention
    unrecorded = 0,   -- `expired` events the sweep could not store, the memtx arena being full
}

-- The newest seq whose transaction has committed here. Readers answer no event past it: memtx
-- (without MVCC, as here) shows a transaction's writes to other fibers as soon as they are made,
-- before they reach the WAL, and a transaction may still be rolled back then (a WAL error, a
-- synchronous write without its quorum).
-- One number is enough, because events commit in the order of their seq: a transaction cannot
-- yield between taking a seq and being handed to the WAL (memtx aborts a transaction that yields),
-- so transactions reach the WAL in seq order; the WAL writes them, and the synchronous queue
-- confirms them, in that order; and a rollback takes every transaction queued after the one rolled
-- back with it. So once the transaction of seq n has committed, every event before n is committed
-- or gone for good, whoever learns it first.
-- Who advances it:
-- - on the writable member, the fiber that wrote the events, when its commit returns (M.atomic).
--   A trigger on the space and an on_commit trigger per transaction cost about 3 us of the tx
--   thread per /new (Tarantool 2.11, measured alone), more than writing the event;
-- - on a read-only member, an on_replace trigger on the space, for the transactions replication
--   applies: their on_commit (M.follow).
-- Read from the space when this load of the code first sees it (at start, or once a migration
-- made it): what it holds then is committed (a member that receives the space by replication
-- installs the trigger up to a second after it came, and may take an event in its WAL write).
local committed = 0
local known = false
-- Broadcast at each advance, for events_wait. A fiber.cond: box.broadcast is 2.10's.
local changed = fiber.cond()
-- In the transaction M.atomic runs: false, then the seq of the last event written (the greatest);
-- nil outside one.
local written = nil

local function now_ms()
    return math.floor(fiber.time() * 1000)
end

local function advance(seq)
    if seq > committed then committed = seq end
    changed:broadcast()
end

-- Writes an event of `kind` about the session whose id is made of `key`, with `reason` (or nil),
-- in the transaction M.atomic runs, which writes the change it describes.
local function write(kind, key, user_id, ip, reason)
    local events = space.events()
    -- None on a member promoted with this code before it has run its migrations (sessions.init).
    if events == nil then return end
    if written == nil then error('an event is written in the transaction of its change, run by events.atomic') end
    local row = {box.NULL, now_ms(), kind, user_id, key, ip}
    if reason ~= nil then row[E.reason] = reason end
    written = events:insert(row)[E.seq]
end

-- Writes an event about the session `t` (the tuple written, or the one deleted).
function M.emit(kind, t, reason)
    write(kind, space.identity(t), t[F.user_id], t[F.ip], reason)
end

-- The key of a `reset` event, which names no session. (uuid.NULL is a const cdata, which a
-- tuple does not take on 2.6.)
local NO_KEY = uuid.fromstr('00000000-0000-0000-0000-000000000000')

-- Writes a `reset` event (see the top of this file) with `reason`.
function M.emit_reset(reason)
    write('reset', NO_KEY, 0, 0, reason)
end

-- Writes the `created` event of a session from the Lua table inserted (a new session has no
-- origin: its key is its identity). Read back from the tuple, its uuid key would cost Tarantool
-- 2.6 about 2 us more per /new: reading a uuid field aborts its JIT's trace.
function M.emit_created(row)
    write('created', row[F.token], row[F.user_id], row[F.ip])
end

-- As emit, but a full memtx arena leaves the event out (counted) instead of failing the
-- transaction: for the expiry sweep, which frees memory, and whose sessions a client's cache never
-- serves past their expiry anyway.
function M.emit_if_room(kind, t, reason)
    local ok, err = pcall(M.emit, kind, t, reason)
    if ok then return end
    if type(err) ~= 'cdata' or err.type ~= 'OutOfMemory' then error(err) end
    M.counters.unrecorded = M.counters.unrecorded + 1
end

local function finish(ok, ...)
    local seq = written
    written = nil
    if not ok then
        box.rollback()
        error((...), 0)
    end
    box.commit()
    if seq then advance(seq) end
    return ...
end

-- The id of the fiber M.batch runs its calls in, while it does: M.atomic then runs in the
-- transaction they share (in that fiber only: a call that yields, which it must not, lets others run).
local batching = nil

-- Runs fn(...) in a transaction and returns what it returns, as box.atomic does: the transaction
-- of a change and its events (M.emit). Once it has committed, they are read. In a batch (M.batch),
-- fn runs in the batch's transaction, under the savepoint of its call.
function M.atomic(fn, ...)
    if batching ~= nil and batching == fiber.id() then return fn(...) end
    box.begin()
    written = false
    return finish(pcall(fn, ...))
end

local function run_batch(calls, fn, answer)
    local out = {}
    for i = 1, #calls do
        local savepoint = box.savepoint()
        local before = written
        local ok, a, b, c = pcall(fn, calls[i])
        if not ok then
            box.rollback_to_savepoint(savepoint)
            written = before
        end
        out[i] = answer(ok, a, b, c)
    end
    return out
end

-- Runs fn(call) for each of `calls` in one transaction, each under a savepoint, and answers an
-- array of answer(ok, ...) for each, from what pcall returned for it (fn's first three values, or
-- its error): one commit, one WAL write and one wait for them all, where a transaction each would
-- cost each its own. A call that raises is rolled back alone (its changes and events). If the
-- commit fails, or the transaction itself (a call that yielded: memtx aborts the transaction),
-- none is written and the whole batch raises; either way M.atomic is itself again after it.
function M.batch(calls, fn, answer)
    box.begin()
    written = false
    batching = fiber.id()
    local ok, out = pcall(run_batch, calls, fn, answer)
    batching = nil
    return finish(ok, out)
end

-- The newest seq given: the newest event kept, else the sequence's value (every event may have
-- been swept), else 0.
local function newest_kept()
    local last = space.events().index.primary:max()
    if last ~= nil then return last[E.seq] end
    local sequence = box.sequence[space.EVENTS_SEQUENCE]
    local ok, value = pcall(sequence.current, sequence)
    return ok and tonumber(value) or 0
end

-- The space, once it exists, with `committed` read from it the first time.
local function seen()
    local events = space.events()
    if events ~= nil and not known then
        committed = math.max(committed, newest_kept())
        known = true
    end
    return events
end

local function applied(old, new)
    if old ~= nil or new == nil then return end
    local seq = new[E.seq]
    box.on_commit(function() advance(seq) end)
end

-- On a read-only member: follows the commits of the events replication applies, in place of a
-- trigger of an earlier load of this code. Once the space exists; again at each look.
function M.follow()
    local events = seen()
    if events == nil then return end
    local triggers = events:on_replace()
    if #triggers == 1 and triggers[1] == applied then return end
    for _, old in ipairs(triggers) do events:on_replace(nil, old) end
    events:on_replace(applied)
end

-- On the writable member, which writes the events: its transactions advance `committed`
-- themselves (M.atomic), and the trigger goes.
function M.lead()
    local events = seen()
    if events == nil then return end
    for _, old in ipairs(events:on_replace()) do events:on_replace(nil, old) end
end

-- The newest committed seq (0 before the first event, or before the space exists here).
function M.newest()
    return committed
end

local function position(after)
    if type(after) ~= 'number' or after < 0 or after ~= math.floor(after) then
        error('after must be a non-negative integer (0: from the first event)')
    end
    return after
end

-- The page of events_page: see the top of this file.
function M.page(after, limit, user_id)
    after = position(after)
    if type(limit) ~= 'number' or limit < 1 or limit ~= math.floor(limit) then
        error('limit must be a positive integer')
    end
    limit = math.min(limit, PAGE_MAX)
    user_id = space.given(user_id)
    local newest = committed
    local out = {}
    local events = space.events()
    if events == nil then return {events = out, ips = {}, oldest = 1, newest = 0} end
    local index, from = events.index.primary, after
    if user_id ~= nil then index, from = events.index.user_id, {user_id, after} end
    for _, t in index:pairs(from, {iterator = 'GT'}) do
        if #out >= limit or t[E.seq] > newest or (user_id ~= nil and t[E.user_id] ~= user_id) then break end
        out[#out + 1] = t
    end
    local first = events.index.primary:min()
    local oldest = newest + 1
    if first ~= nil and first[E.seq] < oldest then oldest = first[E.seq] end
    local texts = {}
    for i, t in ipairs(out) do texts[i] = ips.text(t[E.ip]) end
    return {events = out, ips = texts, oldest = oldest, newest = newest}
end

-- The long poll of events_wait: see the top of this file.
function M.wait(after, timeout, limit)
    after = position(after)
    if type(timeout) ~= 'number' or timeout ~= timeout then error('timeout must be a number of seconds') end
    local deadline = fiber.clock() + math.max(0, math.min(timeout, WAIT_MAX))
    while committed <= after do
        local left = deadline - fiber.clock()
        if left <= 0 then break end
        changed:wait(left)
    end
    return M.page(after, space.given(limit) or PAGE_MAX)
end

-- Deletes up to BATCH committed events older than the retention at `at_ms` (unix milliseconds),
-- oldest first; returns how many.
function M.sweep_batch(at_ms)
    local events = space.events()
    local cutoff = at_ms - settings.get().events_retention * 1000
    local found = {}
    for _, t in events.index.primary:pairs() do
        if #found >= BATCH or t[E.time] >= cutoff or t[E.seq] > committed then break end
        found[#found + 1] = t[E.seq]
    end
    if #found > 0 then
        box.atomic(function()
            for _, seq in ipairs(found) do events:delete(seq) end
        end)
        M.counters.swept = M.counters.swept + #found
    end
    return #found
end

-- Deletes every event past its retention, in batches, yielding between them.
function M.sweep()
    local total = 0
    while not box.info.ro do
        local n = M.sweep_batch(now_ms())
        total = total + n
        if n < BATCH then break end
        fiber.yield()
    end
    return total
end

local function worker()
    fibers.every(PASS_INTERVAL, function()
        return not box.info.ro and space.events() ~= nil
    end, M.sweep, 'deleting old events')
end

-- Starts the retention sweep, first cancelling one left by an earlier load of this code. Run when
-- the member becomes writable (sessions.role).
function M.start()
    fibers.restart(FIBER_NAME, worker)
end

-- Stops it: the member is read-only (sessions.role).
function M.stop()
    fibers.stop(FIBER_NAME)
end

return M

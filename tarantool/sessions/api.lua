-- The public procedures: the only functions the service user may execute.
-- Each returns a session tuple (or a list of them), or nil and an error value. Beside a session,
-- by name, what the service reports of it that is not in the tuple as stored (answered).
-- A session is stored under a key: its token, or the token's hash (sessions.keys).
-- Each change of a session is written with its event (sessions.events), in its transaction.
local fiber = require('fiber')
local json_size = require('sessions.json_size')
local activity = require('sessions.activity')
local aliases = require('sessions.aliases')
local conversions = require('sessions.conversions')
local errors = require('sessions.errors')
local events = require('sessions.events')
local expiry = require('sessions.expiry')
local extra_data = require('sessions.extra')
local ips = require('sessions.ips')
local ipv4_upgrade = require('sessions.ipv4_upgrade')
local keys = require('sessions.keys')
local limits = require('sessions.limits')
local lists = require('sessions.lists')
local secret = require('sessions.secret')
local settings = require('sessions.settings')
local sign_out = require('sessions.sign_out')
local space = require('sessions.space')

local F = space.F
local A = aliases.A
local NONE = {}

local M = {NAMESPACE = 'sessions', procedures = {}}
local api = M.procedures

local function now()
    return math.floor(fiber.time())
end

-- A value from the service that may be null, as nil.
local given = space.given

-- A session as answered: the tuple, no error, and by name its newest activity (a /get's mark is
-- not in the stored tuple yet), the second it is gone if not used again (sessions.expiry) and its
-- ip's text (sessions.ips): the service reports them, never computes them.
local function answered(t, activity_s)
    activity_s = activity_s or t[F.activity]
    return t, nil, {activity = activity_s, expires = expiry.expires(t, activity_s), ip = ips.text(t[F.ip])}
end

-- What get_many and new_many answer for one call, from what pcall returned for it: {session,
-- error, fields}, box.NULL where nil; or, for a call that raised, {NULL, NULL, NULL, message},
-- which the service sends again alone (call-batch.ts).
local function batch_answer(ok, t, err, fields)
    if not ok then return {box.NULL, box.NULL, box.NULL, tostring(t)} end
    return {t or box.NULL, err or box.NULL, fields or box.NULL}
end

-- The session a token opens at now_s, and the key it is stored under: by the token's key, or by
-- a key it had before a rotation, within its grace (sessions.aliases).
local function find(token, now_s)
    local s = space.get()
    local t, key = keys.find(s, token)
    if t ~= nil or not aliases.any() then return t, key end
    for _, form in ipairs(keys.forms(token)) do
        local row = aliases.get(form)
        if row ~= nil and now_s < row[A.until_s] then return keys.resolve(s, row[A.target]) end
    end
    return nil, key
end

-- The session an id names, by the key it is made of (session-codec.ts in the service), and the
-- key it is stored under now.
local function find_by_id(key)
    local s = space.get()
    local t, at = keys.resolve(s, key)
    if t ~= nil or not aliases.any() then return t, at end
    local row = aliases.get(key)
    if row ~= nil and row[A.origin] then return keys.resolve(s, row[A.target]) end
    return nil, key
end

-- Inserts a new session with its `created` event, after the sessions it evicts (their keys) with
-- theirs.
local function insert_new(s, tuple, evict)
    for i = 1, #evict do events.emit('revoked', s:delete(evict[i]), 'evicted') end
    local t = s:insert(tuple)
    events.emit_created(tuple)
    return t
end

-- Creates a session. token: uuid, user_id: unsigned, ip: IPv4 as its 32-bit number or IPv6 as
-- canonical text, extra: map or nil (checked by the service); opts (all optional): ttl and lifetime
-- (seconds), extra_max_bytes, max_sessions (the user's limit; 0 or none: no limit) and
-- limit_policy ('evict_oldest' or 'deny', sessions.limits).
-- Idempotent: the same call again returns the session the first one made.
-- The tuple ends after its last field given: a session without extra, ttl or lifetime has 5, a
-- byte less than with a null extra, which moves most sessions to a smaller memtx size class.
function api.new(token, user_id, ip, extra, opts)
    ip = ips.stored(ip)
    opts = given(opts) or {}
    local ttl, lifetime = given(opts.ttl), given(opts.lifetime)
    local max_bytes, max_sessions = given(opts.extra_max_bytes), given(opts.max_sessions)
    extra = given(extra)
    if extra ~= nil and max_bytes ~= nil and json_size.exceeds(extra, max_bytes) then
        return nil, errors.payload_too_large(max_bytes)
    end
    local s = space.get()
    local t = now()
    local key = keys.stored(token)
    -- The service chose the token: a call sent again (its answer lost, or a new leader asked after
    -- a failover) finds the session it made and returns it, instead of making a second one.
    local made = s:get(key)
    if made ~= nil then
        if made[F.user_id] ~= user_id then error('a session with this token exists for another user') end
        return answered(activity.current(made, key))
    end
    local tuple = {key, user_id, ip, t, t}
    if extra ~= nil or ttl ~= nil or lifetime ~= nil then tuple[F.extra] = extra or box.NULL end
    if ttl ~= nil or lifetime ~= nil then tuple[F.ttl] = ttl or box.NULL end
    if lifetime ~= nil then tuple[F.ends] = t + lifetime end
    local evict = NONE
    if max_sessions ~= nil and max_sessions > 0 then
        evict = limits.room(user_id, max_sessions, given(opts.limit_policy), t)
        if evict == nil then return nil, errors.too_many_sessions(max_sessions) end
    end
    return answered(events.atomic(insert_new, s, tuple, evict))
end

local function new_call(c)
    return api.new(c[1], c[2], c[3], c[4], c[5])
end

-- Runs api.new for each of `calls`, an array of its arguments ({token, user_id, ip, extra, opts}
-- each), in one transaction (sessions.events.batch), and answers an array of what each answered,
-- as get_many does: the service's /new requests that arrive together, written and waited for
-- once. A call that raises is rolled back alone and answers {NULL, NULL, NULL, message}: the
-- service sends it again alone. Idempotent, as api.new is.
function api.new_many(calls)
    return events.batch(calls, new_call, batch_answer)
end

-- Writes a change of ip or extra with its `updated` event.
local function update(s, key, ops)
    local t = s:update(key, ops)
    events.emit('updated', t)
    return t
end

-- Returns a live session and marks it used now; a given ip becomes its current one and a given
-- extra is merged into its extra (new keys win), if the result stays within extra_max_bytes.
-- Writes nothing when nothing changes; a new activity alone is written shortly after, with
-- others (sessions.activity).
function api.get(token, ip, extra, extra_max_bytes)
    ip = ips.stored(ip)
    local s = space.get()
    local now_s = now()
    local t, key = find(token, now_s)
    if t == nil or not expiry.is_live(t, now_s, key) then
        return nil, errors.token_not_found()
    end
    -- Made only when something but the activity changes: most calls allocate nothing here.
    local ops = nil
    if ip ~= nil and ip ~= t[F.ip] then
        ops = {{'=', F.ip, ip}}
    end
    if extra ~= nil and extra_data.changes(t[F.extra], extra) then
        local merged_extra = extra_data.merge(t[F.extra], extra)
        if json_size.exceeds(merged_extra, extra_max_bytes) then
            return nil, errors.payload_too_large(extra_max_bytes)
        end
        ops = ops or {}
        ops[#ops + 1] = {'=', F.extra, merged_extra}
    end
    if ops == nil then
        if t[F.activity] ~= now_s then activity.mark(key, t, now_s) end
        return answered(t, now_s)
    end
    if t[F.activity] ~= now_s then ops[#ops + 1] = {'=', F.activity, now_s} end
    return answered(events.atomic(update, s, key, ops))
end

-- Runs api.get for each of `calls`, an array of its arguments ({token, ip, extra,
-- extra_max_bytes} each), and answers an array of what each answered, as an array of three
-- ({session, error, fields}, box.NULL where nil): the service's /get requests that arrive together,
-- in one call, which costs Tarantool about half as much a lookup as a call each (the call's own
-- work, in the network thread and the transaction thread, is shared).
-- A call that raises (a write refused: read-only, out of memory) answers {NULL, NULL, NULL, message}
-- and the others go on: the service sends that one again alone.
function api.get_many(calls)
    local out = {}
    for i = 1, #calls do
        local c = calls[i]
        out[i] = batch_answer(pcall(api.get, c[1], c[2], c[3], c[4]))
    end
    return out
end

local function delete_with_event(s, key, reason)
    events.emit('revoked', s:delete(key), reason)
end

-- Deletes the session stored under `key` and returns it; an expired one is deleted (its event
-- says so) but reported as not found.
local function delete(key)
    local s = space.get()
    local t = s:get(key)
    if t == nil then return nil, errors.token_not_found() end
    -- Read before the delete, which takes the session's newest use with it.
    t = activity.current(t, key)
    local live = expiry.is_live(t, now(), key, false)
    events.atomic(delete_with_event, s, key, live and 'deleted' or 'expired')
    if not live then return nil, errors.token_not_found() end
    return answered(t)
end

-- Deletes a session by its token and returns it.
function api.del(token)
    local _, key = find(token, now())
    return delete(key)
end

-- Deletes a session by the key its id is made of, which the service reads from the id.
function api.del_key(key)
    local _, at = find_by_id(key)
    return delete(at)
end

-- Writes a rotated session under its new key (fields) in place of the one under `key`, the alias
-- its old key keeps until until_s and, unless graced, its `rotated` event. A function of its own,
-- not a closure made per call: LuaJIT does not compile the making of one.
local function move(s, fields, key, new_key, until_s, graced)
    local rotated = s:insert(fields)
    s:delete(key)
    aliases.retire(key, new_key, until_s, graced)
    if not graced then events.emit('rotated', rotated) end
    return rotated
end

-- Gives a session a new token (`new_token`, chosen by the service) and returns it: same id, user,
-- create, ip, extra, ttl and end; activity now. The old token stops working at once, or after
-- `grace` seconds (sessions.aliases); its `rotated` event is written then. A retry of a rotation
-- done already (same tokens) returns the session as it is.
function api.rotate(token, new_token, grace)
    local s = space.get()
    local now_s = now()
    local new_key = keys.stored(new_token)
    local t, key = keys.find(s, token)
    if t == nil or not expiry.is_live(t, now_s, key) then
        if aliases.any() then
            for _, form in ipairs(keys.forms(token)) do
                local row = aliases.get(form)
                if row ~= nil and row[A.target] == new_key then
                    local current = s:get(new_key)
                    if current ~= nil and expiry.is_live(current, now_s, new_key) then
                        return answered(activity.current(current, new_key))
                    end
                end
            end
        end
        return nil, errors.token_not_found()
    end
    local fields = t:totable()
    for i = #fields + 1, F.ends do fields[i] = box.NULL end
    fields[F.token] = new_key
    fields[F.activity] = now_s
    if fields[F.origin] == nil then fields[F.origin] = key end
    local until_s = now_s + (given(grace) or 0)
    local graced = until_s > now_s
    local rotated = events.atomic(move, s, fields, key, new_key, until_s, graced)
    if graced then expiry.wake_at(until_s) end
    return answered(rotated)
end

-- The position a list's page starts after, from a procedure's arguments: nil for the first page.
local function position(after_activity, after_key)
    if after_activity == nil then return nil end
    return {after_activity, after_key}
end

-- A page of the live sessions of a user, newest activity first (see sessions.lists), after the session
-- at (after_activity, after_key) when given.
function api.by_user(user_id, limit, after_activity, after_key)
    return lists.page('user_id', {user_id}, limit, position(after_activity, after_key))
end

-- A page of the live sessions whose current ip is this one (IPv4 as its number), newest activity
-- first (see sessions.lists), after the session at (after_activity, after_key) when given.
function api.by_ip(ip, limit, after_activity, after_key)
    local after = position(after_activity, after_key)
    ip = ips.stored(ip)
    if type(ip) == 'number' and ipv4_upgrade.pending() then
        -- Sessions of schema 1 not converted yet hold the address as text.
        return lists.page('ip', {ip, ips.ipv4(ip)}, limit, after)
    end
    return lists.page('ip', {ip}, limit, after)
end

-- The session a sign-out keeps, as a set of the bytes of the key its id is made of
-- (space.identity), in its plain and hashed forms (the token conversion may move a session
-- meanwhile): the session of `token`, or the one whose id is made of `key`.
local function kept(token, key)
    local out = {}
    local identity = given(key)
    if given(token) ~= nil then
        local t = find(token, now())
        if t == nil then return out end
        identity = space.identity(t)
    end
    if identity ~= nil then
        out[identity:bin('b')] = true
        if keys.is_token(identity) then out[keys.hash(identity):bin('b')] = true end
    end
    return out
end

-- Ends some of the sessions of a user but the one whose token is `except_token` or whose stored
-- key is `except_key` (either or none), of those that existed at `started` (nil on the first
-- call); returns {deleted, done, started}: the service calls again with `started` until done
-- (sessions.sign_out).
function api.del_user(user_id, except_token, except_key, started)
    if user_id == nil then error('a user id is required') end
    return sign_out.delete_some('user_id', {user_id}, kept(except_token, except_key), started)
end

-- Ends some of the sessions whose current ip is this one (IPv4 as its number); as del_user.
function api.del_ip(ip, started)
    ip = ips.stored(ip)
    if ip == nil then error('an ip is required') end
    local forms = {ip}
    if type(ip) == 'number' and ipv4_upgrade.pending() then forms[2] = ips.ipv4(ip) end
    return sign_out.delete_some('ip', forms, {}, started)
end

-- The instance's secret, from which the service derives the keys of session ids and cursors.
function api.secret()
    return secret.get()
end

-- Applies the service's settings ({ttl, sweep_interval, token_storage, events_retention}, each
-- optional: one not given stays as it is); returns those in force, or nil and why they cannot be.
function api.configure(opts)
    if type(opts) ~= 'table' then
        error('configure expects a map of settings')
    end
    local applied, err = settings.set(opts)
    if applied == nil then
        return nil, errors.settings_refused(err)
    end
    expiry.wakeup()
    -- TOKEN_STORAGE=hashed may have been set: the conversion of plain tokens starts.
    conversions.wakeup()
    return applied
end

-- Counters and settings in force, for readiness and metrics.
function api.stats()
    local current = settings.get()
    return {
        sessions = space.get():len(),
        ttl = current.ttl,
        sweep_interval = current.sweep_interval,
        lsn = box.info.lsn,
        version = box.info.version,
        ro = box.info.ro,
        token_storage = current.token_storage,
        hashing_tokens = keys.converting(),
        expiry = expiry.counters,
        activity = activity.counters,
        limits = limits.counters,
        -- Sessions with a ttl or lifetime of their own; keys kept after rotations.
        deadlines = space.deadlines():len(),
        aliases = space.aliases():len(),
        events_retention = current.events_retention,
        events = {
            kept = space.events() and space.events():len() or 0,
            newest = events.newest(),
            swept = events.counters.swept,
            unrecorded = events.counters.unrecorded,
        },
    }
end

-- Up to `limit` committed events after the seq `after`, of one user if `user_id` is given; and the
-- oldest seq kept and the newest committed (sessions.events).
api.events_page = events.page

-- The events after `after` once there are any, waiting for them at most `timeout` seconds
-- (sessions.events).
api.events_wait = events.wait

-- This member's role and replication, polled by the service on every member (sessions.member).
api.member = require('sessions.member').info

return M

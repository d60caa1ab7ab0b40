-- The public procedures: the only functions the service user may execute.
-- Each returns a session tuple (or a list of them), or nil and an error value. `get` may add a
-- third value: the session's new activity, when the tuple returned does not hold it yet.
-- A session is stored under a key: its token, or the token's hash (sessions.keys).
local fiber = require('fiber')
local json = require('json')
local msgpack = require('msgpack')
local activity = require('sessions.activity')
local errors = require('sessions.errors')
local expiry = require('sessions.expiry')
local ipv4_upgrade = require('sessions.ipv4_upgrade')
local keys = require('sessions.keys')
local lists = require('sessions.lists')
local secret = require('sessions.secret')
local settings = require('sessions.settings')
local sign_out = require('sessions.sign_out')
local space = require('sessions.space')
local token_hashing = require('sessions.token_hashing')

local F = space.F
local MAP = {__serialize = 'map'}

local M = {NAMESPACE = 'sessions', procedures = {}}
local api = M.procedures

local function now()
    return math.floor(fiber.time())
end

-- The limit is the service's, measured as it measures request bodies: serialized as JSON.
-- Tarantool's encoder writes '/' as '\/', JSON.stringify as '/': those count one byte.
local function too_large(extra, max_bytes)
    local text = json.encode(extra)
    local _, escaped_slashes = text:gsub('\\/', '')
    return #text - escaped_slashes > max_bytes
end

local function same(a, b)
    -- type() tells an absent key (nil) from a null one (box.NULL, a cdata).
    if type(a) ~= type(b) then return false end
    if type(a) == 'table' then return msgpack.encode(a) == msgpack.encode(b) end
    return a == b
end

-- Whether merging `new` into `old` would change anything.
local function changes(old, new)
    if old == nil then return next(new) ~= nil end
    for k, v in pairs(new) do
        if not same(old[k], v) then return true end
    end
    return false
end

-- Shallow merge: the keys of `new` replace those of `old` (a null value is stored as null).
local function merge(old, new)
    local out = setmetatable({}, MAP)
    if old ~= nil then
        for k, v in pairs(old) do out[k] = v end
    end
    for k, v in pairs(new) do out[k] = v end
    return out
end

-- Creates a session. token: uuid, user_id: unsigned, ip: IPv4 as its 32-bit number or IPv6 as
-- canonical text, extra: map or nil
-- (checked by the service). Without extra, the tuple ends before the field: a byte less, which
-- moves most sessions to a smaller memtx size class.
function api.new(token, user_id, ip, extra)
    ip = ipv4_upgrade.stored(ip)
    local t = now()
    local key = keys.stored(token)
    if extra == nil then
        return space.get():insert{key, user_id, ip, t, t}
    end
    return space.get():insert{key, user_id, ip, t, t, extra}
end

-- Returns a live session and marks it used now; a given ip becomes its current one and a given
-- extra is merged into its extra (new keys win), if the result stays within extra_max_bytes.
-- Writes nothing when nothing changes; a new activity alone is written shortly after, with
-- others (sessions.activity).
function api.get(token, ip, extra, extra_max_bytes)
    ip = ipv4_upgrade.stored(ip)
    local s = space.get()
    local t, key = keys.find(s, token)
    local now_s = now()
    if t == nil or not expiry.is_live(t, now_s, key) then
        return nil, errors.token_not_found()
    end
    local ops = {}
    if ip ~= nil and ip ~= t[F.ip] then
        ops[#ops + 1] = {'=', F.ip, ip}
    end
    if extra ~= nil and changes(t[F.extra], extra) then
        local merged_extra = merge(t[F.extra], extra)
        if too_large(merged_extra, extra_max_bytes) then
            return nil, errors.payload_too_large(extra_max_bytes)
        end
        ops[#ops + 1] = {'=', F.extra, merged_extra}
    end
    if t[F.activity] == now_s then
        if #ops == 0 then return t end
    elseif #ops == 0 then
        activity.mark(key, t, now_s)
        -- The stored tuple and its new activity apart: a copy of the tuple with it took a
        -- third of the procedure's time.
        return t, nil, now_s
    else
        ops[#ops + 1] = {'=', F.activity, now_s}
    end
    return s:update(key, ops)
end

-- Deletes the session stored under `key` and returns it; an expired one is deleted but
-- reported as not found.
local function delete(key)
    local t = space.get():delete(key)
    if t == nil or not expiry.is_live(t, now(), key) then
        return nil, errors.token_not_found()
    end
    return activity.current(t, key)
end

-- Deletes a session by its token and returns it.
function api.del(token)
    local _, key = keys.find(space.get(), token)
    return delete(key)
end

-- Deletes a session by the key it is stored under (the token, or its hash), which the service
-- reads from a session id.
function api.del_key(key)
    if keys.is_token(key) and keys.hashed() then
        -- An id read before its session's token was hashed (sessions.token_hashing).
        local t = delete(key)
        if t ~= nil then return t end
        return delete(keys.hash(key))
    end
    return delete(key)
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
    ip = ipv4_upgrade.stored(ip)
    if type(ip) == 'number' and ipv4_upgrade.pending() then
        -- Sessions of schema 1 not converted yet hold the address as text.
        return lists.page('ip', {ip, ipv4_upgrade.text(ip)}, limit, after)
    end
    return lists.page('ip', {ip}, limit, after)
end

-- The stored keys a sign-out keeps, as a set of their bytes: the session of `token`, or stored
-- under `key`, each in its plain and hashed forms (the token conversion may move it meanwhile).
local function kept(token, key)
    local out = {}
    -- Nulls from the service are box.NULL: equal to nil, but true in a test.
    local plain = token
    if plain == nil then plain = key end
    if plain ~= nil then
        out[plain:bin('b')] = true
        if keys.is_token(plain) then out[keys.hash(plain):bin('b')] = true end
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
    ip = ipv4_upgrade.stored(ip)
    if ip == nil then error('an ip is required') end
    local forms = {ip}
    if type(ip) == 'number' and ipv4_upgrade.pending() then forms[2] = ipv4_upgrade.text(ip) end
    return sign_out.delete_some('ip', forms, {}, started)
end

-- The instance's secret, from which the service derives the keys of session ids and cursors.
function api.secret()
    return secret.get()
end

-- Applies the service's settings ({ttl, sweep_interval, token_storage}); returns those in force,
-- or nil and why they cannot be.
function api.configure(opts)
    if type(opts) ~= 'table' then
        error('configure expects a map of settings')
    end
    local applied, err = settings.set(opts)
    if applied == nil then
        return nil, errors.settings_refused(err)
    end
    expiry.wakeup()
    token_hashing.start()
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
    }
end

return M

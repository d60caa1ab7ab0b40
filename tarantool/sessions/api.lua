-- The public procedures: the only functions the service user may execute.
-- Each returns a session tuple (or a list of them), or nil and an error value. `get` may add a
-- third value: the session's new activity, when the tuple returned does not hold it yet.
local fiber = require('fiber')
local json = require('json')
local msgpack = require('msgpack')
local activity = require('sessions.activity')
local errors = require('sessions.errors')
local expiry = require('sessions.expiry')
local ipv4_upgrade = require('sessions.ipv4_upgrade')
local settings = require('sessions.settings')
local space = require('sessions.space')

local F = space.F
local MAP = {__serialize = 'map'}

local M = {NAMESPACE = 'sessions', procedures = {}}
local api = M.procedures

local function now()
    return math.floor(fiber.time())
end

-- A session is live while it has been used within the TTL; older ones are gone even
-- before the expiry fiber deletes them. A mark of use not yet written counts (token: the
-- session's, if the caller has it).
local function is_live(t, now_s, token)
    local cutoff = now_s - settings.get().ttl
    return t[F.activity] >= cutoff or activity.of(t, token) >= cutoff
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

local function newest_first(a, b)
    if a[F.activity] ~= b[F.activity] then
        return a[F.activity] > b[F.activity]
    end
    return a[F.create] > b[F.create]
end

-- Live sessions whose `index_name` key is any of `keys`, newest first.
local function live_by(index_name, keys)
    local now_s = now()
    local out = {}
    -- Marks are looked for by any key: a session marked under one form of an ip may be listed
    -- under the other (sessions.ipv4_upgrade).
    local marked = false
    for _, key in ipairs(keys) do
        marked = marked or activity.may_be_marked(index_name, key)
    end
    for _, key in ipairs(keys) do
        -- A nil key would match every tuple of the index.
        if key == nil then
            error('a key is required')
        end
        for _, t in space.get().index[index_name]:pairs(key, {iterator = 'EQ'}) do
            if is_live(t, now_s) then
                out[#out + 1] = marked and activity.current(t) or t
            end
        end
    end
    table.sort(out, newest_first)
    return out
end

-- Creates a session. token: uuid, user_id: unsigned, ip: IPv4 as its 32-bit number or IPv6 as
-- canonical text, extra: map or nil
-- (checked by the service). Without extra, the tuple ends before the field: a byte less, which
-- moves most sessions to a smaller memtx size class.
function api.new(token, user_id, ip, extra)
    ip = ipv4_upgrade.stored(ip)
    local t = now()
    if extra == nil then
        return space.get():insert{token, user_id, ip, t, t}
    end
    return space.get():insert{token, user_id, ip, t, t, extra}
end

-- Returns a live session and marks it used now; a given ip becomes its current one and a given
-- extra is merged into its extra (new keys win), if the result stays within extra_max_bytes.
-- Writes nothing when nothing changes; a new activity alone is written shortly after, with
-- others (sessions.activity).
function api.get(token, ip, extra, extra_max_bytes)
    ip = ipv4_upgrade.stored(ip)
    local s = space.get()
    local t = s:get(token)
    local now_s = now()
    if t == nil or not is_live(t, now_s, token) then
        return nil, errors.token_not_found()
    end
    local ops = {}
    if ip ~= nil and ip ~= t[F.ip] then
        ops[#ops + 1] = {'=', F.ip, ip}
    end
    if extra ~= nil and changes(t[F.extra], extra) then
        local merged = merge(t[F.extra], extra)
        if too_large(merged, extra_max_bytes) then
            return nil, errors.payload_too_large(extra_max_bytes)
        end
        ops[#ops + 1] = {'=', F.extra, merged}
    end
    if t[F.activity] == now_s then
        if #ops == 0 then return t end
    elseif #ops == 0 then
        activity.mark(token, t, now_s)
        -- The stored tuple and its new activity apart: a copy of the tuple with it took a
        -- third of the procedure's time.
        return t, nil, now_s
    else
        ops[#ops + 1] = {'=', F.activity, now_s}
    end
    return s:update(token, ops)
end

-- Deletes a session and returns it; an expired one is deleted but reported as not found.
function api.del(token)
    local t = space.get():delete(token)
    if t == nil or not is_live(t, now(), token) then
        return nil, errors.token_not_found()
    end
    return activity.current(t, token)
end

-- All live sessions of a user, newest activity first.
function api.by_user(user_id)
    return live_by('user_id', {user_id})
end

-- All live sessions whose current ip is this one (IPv4 as its number), newest activity first.
function api.by_ip(ip)
    ip = ipv4_upgrade.stored(ip)
    if type(ip) == 'number' and ipv4_upgrade.pending() then
        -- Sessions of schema 1 not converted yet hold the address as text.
        return live_by('ip', {ip, ipv4_upgrade.text(ip)})
    end
    return live_by('ip', {ip})
end

-- Applies the service's settings ({ttl, sweep_interval}); returns those in force.
function api.configure(opts)
    if type(opts) ~= 'table' then
        error('configure expects a map of settings')
    end
    local applied, err = settings.set(opts)
    if applied == nil then
        error(err)
    end
    expiry.wakeup()
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
        expiry = expiry.counters,
        activity = activity.counters,
    }
end

return M

-- The service's settings: sent by the service on every connect (sessions.configure), persisted in
-- _schema so the expiry fiber keeps the right TTL across restarts, and tokens stay hashed.
local KEY = 'sessions_settings'

local DEFAULTS = {
    ttl = 180 * 24 * 3600,    -- seconds of inactivity before a session is gone
    sweep_interval = 60,      -- seconds between two expiry passes
    token_storage = 'plain',  -- 'plain': tokens as they are; 'hashed': a one-way hash of each (sessions.keys)
    -- Seconds an event is kept (sessions.events). A service older than events does not send it:
    -- the one in force stays.
    events_retention = 900,
}

local M = {}

local current

local function from_tuple(t)
    if t == nil then return table.copy(DEFAULTS) end
    return {
        ttl = t[2], sweep_interval = t[3], token_storage = t[4] or DEFAULTS.token_storage,
        events_retention = t[5] or DEFAULTS.events_retention,
    }
end

-- The settings in force.
function M.get()
    if current == nil then
        current = from_tuple(box.space._schema:get(KEY))
    end
    return current
end

-- Forgets the cached settings whenever their row changes, whoever writes it: on a replica, the
-- leader's writes arrive by replication, so a member promoted later serves with the settings in
-- force, not those it read at boot. (A trigger left by an earlier load of this code only clears
-- that load's cache.)
function M.watch()
    box.space._schema:on_replace(function(old, new)
        local t = new or old
        if t ~= nil and t[1] == KEY then current = nil end
    end)
end

local MAX = 2 ^ 32

local function valid_seconds(value)
    return type(value) == 'number' and value >= 1 and value <= MAX and value == math.floor(value)
end

-- Why a value is not acceptable for a setting (given those in force), or nil.
local CHECKS = {
    ttl = function(v) return not valid_seconds(v) and 'ttl must be an integer from 1 to 2^32' or nil end,
    sweep_interval = function(v)
        return not valid_seconds(v) and 'sweep_interval must be an integer from 1 to 2^32' or nil
    end,
    token_storage = function(v, c)
        if v ~= 'plain' and v ~= 'hashed' then return "token_storage must be 'plain' or 'hashed'" end
        -- The tokens are gone: only their hashes are kept.
        if v == 'plain' and c.token_storage == 'hashed' then
            return 'TOKEN_STORAGE=plain is refused: this Tarantool keeps tokens hashed, and a hash cannot be ' ..
                'turned back into a token. Keep TOKEN_STORAGE=hashed.'
        end
        return nil
    end,
    events_retention = function(v)
        return not valid_seconds(v) and 'events_retention must be an integer from 1 to 2^32' or nil
    end,
}

-- Validates and persists new settings; returns nil and a message when they are invalid.
function M.set(opts)
    local c = M.get()
    local next_settings = table.copy(c)
    for name in pairs(DEFAULTS) do
        local value = opts[name]
        if value ~= nil then
            local problem = CHECKS[name](value, c)
            if problem ~= nil then return nil, problem end
            next_settings[name] = value
        end
    end
    local changed = false
    for name in pairs(DEFAULTS) do changed = changed or next_settings[name] ~= c[name] end
    if changed then
        local n = next_settings
        box.space._schema:replace{KEY, n.ttl, n.sweep_interval, n.token_storage, n.events_retention}
    end
    current = next_settings
    return current
end

return M

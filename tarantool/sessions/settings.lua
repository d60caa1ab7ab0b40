-- Expiry settings. The HTTP service sends its own on every connect (sessions.configure);
-- they are persisted in _schema so the expiry fiber keeps the right TTL across restarts.
local KEY = 'sessions_settings'

local DEFAULTS = {
    ttl = 180 * 24 * 3600,   -- seconds of inactivity before a session is gone
    sweep_interval = 60,     -- seconds between two expiry passes
}

local M = {}

local current

local function from_tuple(t)
    if t == nil then return table.copy(DEFAULTS) end
    return {ttl = t[2], sweep_interval = t[3]}
end

-- The settings in force.
function M.get()
    if current == nil then
        current = from_tuple(box.space._schema:get(KEY))
    end
    return current
end

local MAX = 2 ^ 32

local function valid(value)
    return type(value) == 'number' and value >= 1 and value <= MAX and value == math.floor(value)
end

-- Validates and persists new settings; returns nil and a message when they are invalid.
function M.set(opts)
    local next_settings = table.copy(M.get())
    for name in pairs(DEFAULTS) do
        local value = opts[name]
        if value ~= nil then
            if not valid(value) then
                return nil, string.format('%s must be an integer from 1 to 2^32', name)
            end
            next_settings[name] = value
        end
    end
    local c = M.get()
    if next_settings.ttl ~= c.ttl or next_settings.sweep_interval ~= c.sweep_interval then
        box.space._schema:replace{KEY, next_settings.ttl, next_settings.sweep_interval}
    end
    current = next_settings
    return current
end

return M

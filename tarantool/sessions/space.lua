-- The sessions space: tuple field positions, named once.
local M = {}

M.NAME = 'sessions'

M.F = {
    token = 1,     -- uuid, primary key
    user_id = 2,   -- unsigned
    ip = 3,        -- IPv4: its 32-bit number; IPv6: canonical text (the service converts)
    create = 4,    -- unix seconds
    activity = 5,  -- unix seconds of the last use
    extra = 6,     -- map or null
}

function M.get()
    return box.space[M.NAME]
end

return M

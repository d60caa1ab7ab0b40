-- The instance's secret: 32 random bytes (as hex) made by a migration, from which the service derives the
-- keys of session ids and list cursors. It is not a token and opens no session by itself.
local M = {}

M.KEY = 'sessions_secret'

-- The secret, as 64 hex digits.
function M.get()
    local t = box.space._schema:get(M.KEY)
    return t and t[2]
end

return M

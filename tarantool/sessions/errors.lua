-- Expected failures, returned as values: `return nil, errors.X()`. Codes are the HTTP API's.
local M = {}

local function define(code, message)
    return function()
        return {code = code, message = message}
    end
end

M.token_not_found = define('token_not_found', 'Session not found')
M.payload_too_large = define('payload_too_large', 'Extra data is too large')

return M

-- Expected failures, returned as values: `return nil, errors.X(...)`. Codes are the HTTP API's.
local M = {}

function M.token_not_found()
    return {code = 'token_not_found', message = 'Session not found'}
end

function M.payload_too_large(max_bytes)
    return {code = 'payload_too_large', message = string.format('Extra data is larger than %d bytes', max_bytes)}
end

function M.too_many_sessions(max)
    return {code = 'too_many_sessions', message = string.format('The user has %d sessions, the most allowed', max)}
end

-- Not an HTTP error: the service refuses to start with settings Tarantool cannot take.
function M.settings_refused(message)
    return {code = 'settings_refused', message = message}
end

return M

-- The size of extra data as JSON. Interim: Tarantool's encoder with '\/' counted as one byte, as
-- before; numbers are still written with 14 digits (to be replaced by an exact measure).
local json = require('json')

local M = {}

function M.size(value)
    local text = json.encode(value)
    local _, escaped_slashes = text:gsub('\\/', '')
    return #text - escaped_slashes
end

function M.exceeds(value, max_bytes)
    return M.size(value) > max_bytes
end

return M

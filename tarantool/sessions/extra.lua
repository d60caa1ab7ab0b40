-- A session's extra data: what a /get sends is merged into what the session holds (its keys replace
-- the stored ones), and the session is written only when the merge changes something.
local msgpack = require('msgpack')

local MAP = {__serialize = 'map'}

local M = {}

local function same(a, b)
    -- type() tells an absent key (nil) from a null one (box.NULL, a cdata).
    if type(a) ~= type(b) then return false end
    if type(a) == 'table' then return msgpack.encode(a) == msgpack.encode(b) end
    return a == b
end

-- Whether merging `new` into `old` would change anything.
function M.changes(old, new)
    if old == nil then return next(new) ~= nil end
    for k, v in pairs(new) do
        if not same(old[k], v) then return true end
    end
    return false
end

-- Shallow merge: the keys of `new` replace those of `old` (a null value is stored as null).
function M.merge(old, new)
    local out = setmetatable({}, MAP)
    if old ~= nil then
        for k, v in pairs(old) do out[k] = v end
    end
    for k, v in pairs(new) do out[k] = v end
    return out
end

return M

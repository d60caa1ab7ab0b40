-- Signing out everywhere: every session of a user (but one), or at an address, deleted in
-- transactions of BATCH that yield between them, so that other requests are served meanwhile.
-- It ends the sessions that existed when it began: one created while it runs (a later second)
-- is left, and one used while it runs is ended all the same (a walk from the newest again finds
-- it, having moved to the front).
local fiber = require('fiber')
local expiry = require('sessions.expiry')
local space = require('sessions.space')

local F = space.F
-- Deletes per transaction: each holds the tx thread well under a millisecond.
local BATCH = 100

local M = {}

-- The next BATCH sessions of `index` under `key` to end: created by `started`, not `except`.
local function batch(index, field, key, started, except)
    local found = {}
    for _, t in index:pairs({key}, {iterator = 'REQ'}) do
        if #found >= BATCH or t[field] ~= key then break end
        local stored = t[F.token]
        if t[F.create] <= started and (except == nil or stored ~= except) then found[#found + 1] = t end
    end
    return found
end

-- Ends the sessions of `index_name` (user_id or ip) under each of `keys` but the one stored
-- under `except`; returns how many of them were live.
function M.delete_all(index_name, keys, except)
    local s = space.get()
    local index = s.index[index_name]
    local field = F[index_name]
    local started = math.floor(fiber.time())
    local deleted = 0
    for _, key in ipairs(keys) do
        while true do
            local found = batch(index, field, key, started, except)
            if #found == 0 then break end
            local now_s = math.floor(fiber.time())
            box.atomic(function()
                for _, t in ipairs(found) do
                    local gone = s:delete(t[F.token])
                    if gone ~= nil and expiry.is_live(gone, now_s) then deleted = deleted + 1 end
                end
            end)
            fiber.yield()
        end
    end
    return deleted
end

return M

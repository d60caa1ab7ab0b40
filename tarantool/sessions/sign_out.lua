-- Signing out everywhere: every session of a user (but one), or at an address, deleted in
-- transactions of BATCH, at most BATCHES of them a call, yielding between them, so that other
-- requests are served meanwhile and no call outlives the service's timeout: the service calls
-- again until it is done. It ends the sessions that existed when the first call began (`started`,
-- handed back to each next call): one created later (in a later second) is left, and one used
-- meanwhile is ended all the same (the walk starts from the newest again each batch, where a used
-- session has moved). Each session ended gets its `revoked` event in its batch's transaction
-- (sessions.events): `signed_out` or `ip_signed_out`, `expired` for one that was gone already.
local fiber = require('fiber')
local events = require('sessions.events')
local expiry = require('sessions.expiry')
local space = require('sessions.space')

local F = space.F
-- Deletes per transaction: each holds the tx thread well under a millisecond.
local BATCH = 100
-- Transactions a call: about 10 ms of deletes.
local BATCHES = 10
-- The reason of a `revoked` event, by the index walked.
local REASONS = {user_id = 'signed_out', ip = 'ip_signed_out'}

local M = {}

-- The next BATCH sessions of `index` under `key` to end: created by `started`, not kept (`keep`:
-- a set of stored keys' bytes).
local function batch(index, field, key, started, keep)
    local found = {}
    for _, t in index:pairs({key}, {iterator = 'REQ'}) do
        if #found >= BATCH or t[field] ~= key then break end
        if t[F.create] <= started and not keep[space.identity(t):bin('b')] then found[#found + 1] = t end
    end
    return found
end

-- Ends up to BATCHES * BATCH sessions of `index_name` (user_id or ip) under each of `keys`, but
-- those in `keep` (by identity), that existed at `started` (nil: now, on a first call). Returns {deleted = how
-- many of them were live, done = whether none is left, started = the second to pass on}.
function M.delete_some(index_name, keys, keep, started)
    local s = space.get()
    local index = s.index[index_name]
    local field = F[index_name]
    -- A null from the service is box.NULL: equal to nil, but true in a test.
    if started == nil then started = math.floor(fiber.time()) end
    local deleted = 0
    local batches = 0
    for _, key in ipairs(keys) do
        while true do
            if batches >= BATCHES then return {deleted = deleted, done = false, started = started} end
            local found = batch(index, field, key, started, keep)
            if #found == 0 then break end
            local now_s = math.floor(fiber.time())
            events.atomic(function()
                for _, t in ipairs(found) do
                    -- Asked before the delete, which takes the session's newest use with it.
                    local live = expiry.is_live(t, now_s)
                    local gone = s:delete(t[F.token])
                    if gone ~= nil then
                        if live then deleted = deleted + 1 end
                        events.emit('revoked', gone, live and REASONS[index_name] or 'expired')
                    end
                end
            end)
            batches = batches + 1
            fiber.yield()
        end
    end
    return {deleted = deleted, done = true, started = started}
end

return M

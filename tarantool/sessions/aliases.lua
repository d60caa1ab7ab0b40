-- Keys a session was stored under before a rotation (/rotate): {key, target, until, origin}.
-- A rotation stores the session under its new token's key and keeps, here, its old key pointing to
-- the new one:
-- - for `grace` seconds the old token still opens the session (`until`, the second it stops);
-- - the key the session had first (origin = true) is the one its id is made of (the session keeps
--   it in its `origin` field), so that an id names the session for life, through every rotation;
-- - a retried rotation (an answer lost on the way) finds its old key pointing to the key of the
--   token it asks for, and gets the same session back instead of an error.
-- A row with origin = true follows its session by a trigger (sessions.triggers): it is deleted
-- with it. Others are deleted by the sweep RETRY_SECONDS after their grace.
-- The old token's `rotated` event (sessions.events) is written by /rotate when it stops at once;
-- after a grace, by the expiry fiber at the second it stops (`announce`, set while it is due).
local events = require('sessions.events')
local keys = require('sessions.keys')
local space = require('sessions.space')

local F = space.F
local opt = space.opt
local A = {key = 1, target = 2, until_s = 3, origin = 4, announce = 5}

local M = {A = A}

-- How long after its grace a non-origin row is kept, to answer a retried rotation.
M.RETRY_SECONDS = 60

-- Whether there are any: a lookup of a token not found costs nothing more while none was rotated.
function M.any()
    local rows = space.aliases()
    return rows ~= nil and rows:len() > 0
end

-- The row of a key, or nil.
function M.get(key)
    return space.aliases():get(key)
end

-- Records that the session stored under `old_key` now is under `new_key`: the old token works
-- until `until_s`; `announce`: its `rotated` event is due then (else written already).
function M.retire(old_key, new_key, until_s, announce)
    local rows = space.aliases()
    local row = rows:get(old_key)
    local due = announce and until_s or nil
    if row ~= nil and row[A.origin] then
        -- Its first key: the row exists (the trigger made it) and stays, as the id's.
        local ops = {{'=', A.target, new_key}, {'=', A.until_s, until_s}}
        if due ~= nil then ops[3] = {'=', A.announce, due} end
        rows:update(old_key, ops)
    else
        rows:replace{old_key, new_key, until_s, false, due}
    end
end

-- The second the next `rotated` event is due, or nil.
function M.next_announcement()
    local rows = space.aliases()
    if rows == nil or rows.index.announce == nil then return nil end
    local row = rows.index.announce:select({0}, {iterator = 'GT', limit = 1})[1]
    return row and row[A.announce]
end

-- Writes the `rotated` events due by now_s, up to `batch` of them; returns how many rows it
-- took. The event is the session's the old token opened, if it is still under that key: a session
-- deleted since has had its `revoked` event, and one rotated again during this grace had its old
-- tokens stop then (find() follows one alias, not a chain), and gets its event when the newer
-- grace ends.
function M.announce_batch(now_s, batch)
    local rows = space.aliases()
    local due = {}
    for _, row in rows.index.announce:pairs({0}, {iterator = 'GT'}) do
        if #due >= batch or row[A.announce] > now_s then break end
        due[#due + 1] = row
    end
    if #due > 0 then
        local sessions = space.get()
        events.atomic(function()
            for _, row in ipairs(due) do
                rows:update(row[A.key], {{'#', A.announce, 1}})
                local t = keys.resolve(sessions, row[A.target])
                if t ~= nil then events.emit('rotated', t) end
            end
        end)
    end
    return #due
end

-- Keeps the origin row of a session written from `old` to `new` (either nil): it points to the
-- session's current key and goes with the session. Rows whose target is a later key are left.
function M.on_replace(old, new)
    local old_origin = old ~= nil and opt(old, F.origin) or nil
    local new_origin = new ~= nil and opt(new, F.origin) or nil
    if old_origin == nil and new_origin == nil then return end
    local rows = space.aliases()
    if new_origin ~= nil then
        local row = rows:get(new_origin)
        if row == nil then
            rows:insert{new_origin, new[F.token], 0, true}
        elseif row[A.target] ~= new[F.token] then
            rows:update(new_origin, {{'=', A.target, new[F.token]}})
        end
    end
    if old_origin ~= nil and (new == nil or new[F.token] ~= old[F.token]) then
        local row = rows:get(old_origin)
        if row ~= nil and row[A.target] == old[F.token] then rows:delete(old_origin) end
    end
end

-- Deletes up to `batch` rows whose grace and retry window are over (origin rows stay, with
-- until = 0); returns how many it changed.
function M.sweep_batch(now_s, batch)
    local rows = space.aliases()
    local due = {}
    for _, row in rows.index['until']:pairs({0}, {iterator = 'GT'}) do
        if #due >= batch or row[A.until_s] + M.RETRY_SECONDS > now_s then break end
        due[#due + 1] = row
    end
    if #due > 0 then
        box.atomic(function()
            for _, row in ipairs(due) do
                if row[A.origin] then
                    rows:update(row[A.key], {{'=', A.until_s, 0}})
                else
                    rows:delete(row[A.key])
                end
            end
        end)
    end
    return #due
end

return M

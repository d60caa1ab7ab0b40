-- Sessions that have a ttl or an end of their own (from /new's ttl and lifetime), kept by the second
-- they are gone if not used again: {key, at}, at = min(activity + ttl, ends). The sweep of the
-- activity index covers sessions under the TTL setting; this one covers these, so that no pass
-- scans more than what expires. A session of the seed's kind has no row here.
-- Rows follow their session by a trigger (sessions.triggers): inserted, moved, deleted with it, in
-- its transaction. `at` is from the stored activity: a mark not yet written makes a session live
-- past it, which the sweep checks.
local space = require('sessions.space')

local F = space.F
local opt = space.opt

local M = {}

-- The second a session is gone from by its own ttl and end, at the activity `activity_s`
-- (default: its stored one); nil when it has neither (the TTL setting applies).
function M.at(t, activity_s)
    local ttl, ends = opt(t, F.ttl), opt(t, F.ends)
    if ttl == nil then return ends end
    local at = (activity_s or t[F.activity]) + ttl
    if ends ~= nil and ends < at then return ends end
    return at
end

-- Keeps the row of a session written from `old` to `new` (either nil: an insert, a delete).
function M.on_replace(old, new)
    local old_at = old ~= nil and M.at(old) or nil
    local new_at = new ~= nil and M.at(new) or nil
    if old_at == nil and new_at == nil then return end
    local rows = space.deadlines()
    local moved = old ~= nil and new ~= nil and old[F.token] ~= new[F.token]
    if old_at ~= nil and (new_at == nil or moved) then rows:delete(old[F.token]) end
    if new_at ~= nil and (new_at ~= old_at or moved) then rows:replace{new[F.token], new_at} end
end

return M

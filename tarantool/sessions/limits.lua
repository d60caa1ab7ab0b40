-- A limit on the live sessions of one user (MAX_SESSIONS_PER_USER), applied by /new in the same
-- transaction as its insert, with no yield between the count and the write: concurrent /new of one
-- user are serialized by Tarantool's single tx thread, so the limit holds exactly.
-- Policies (SESSION_LIMIT_POLICY): 'evict_oldest' ends the user's least recently used sessions to
-- make room; 'deny' refuses the new session.
local activity = require('sessions.activity')
local expiry = require('sessions.expiry')
local space = require('sessions.space')

local F = space.F
-- The most sessions one /new ends. A user far above the limit (it was lowered, or set on data that
-- had none) comes down by this many at each /new: the transaction stays short.
local EVICT_MAX = 1000

local M = {}

-- Since this instance started, for the service's metrics.
M.counters = {
    evicted = 0,   -- sessions ended to make room
    denied = 0,    -- /new refused
}

-- The keys of the sessions to end so that user `user_id` may have one more, under `max` sessions
-- and `policy`; or nil and 'deny' when the policy refuses it.
function M.room(user_id, max, policy, now_s)
    local live = {}
    for _, t in space.get().index.user_id:pairs({user_id}, {iterator = 'REQ'}) do
        local key = t[F.token]
        local used = activity.of(t, key)
        if expiry.is_live(t, now_s, key, used) then
            live[#live + 1] = {key = key, used = used}
            if #live >= max + EVICT_MAX then break end
        end
    end
    if #live < max then return {} end
    if policy == 'deny' then
        M.counters.denied = M.counters.denied + 1
        return nil, 'deny'
    end
    -- Least recently used first; among those used in the same second, as the index orders them.
    table.sort(live, function(a, b)
        if a.used ~= b.used then return a.used < b.used end
        return a.key:bin('b') < b.key:bin('b')
    end)
    local out = {}
    for i = 1, math.min(#live - max + 1, EVICT_MAX) do out[i] = live[i].key end
    M.counters.evicted = M.counters.evicted + #out
    return out
end

return M

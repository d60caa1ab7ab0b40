-- Background conversion of plain tokens to their hashes once TOKEN_STORAGE=hashed is set, while
-- the instance serves: batches of BATCH sessions in a transaction each, run by
-- sessions.conversions on the writable member. A session is moved to its hashed key (delete and
-- insert in one transaction), with its newest activity. Until it is done, lookups by token also
-- try the plain key (sessions.keys.find). When it is done it says so in _schema and is not run
-- again.
-- A session's id is made of its key (its origin, else its key; sessions.events): a moved session
-- gets another id, and an id given before still names it (sessions.keys.resolve). What was cached
-- under the old id would no longer hear of the session's events, so each batch that moves any
-- writes a `reset` event (reason 'tokens_hashed') in its transaction: caches drop everything.
-- The event cannot name the old ids: they are made of the plain tokens, which are not kept.
local activity = require('sessions.activity')
local events = require('sessions.events')
local expiry = require('sessions.expiry')
local keys = require('sessions.keys')
local space = require('sessions.space')

local F = space.F
-- A batch of moves (a delete, an insert and a hash each) holds the tx thread for under 10 ms
-- (9 ms measured, about 45 µs a move; 200 held it 17 ms).
local BATCH = 100

local M = {}

-- The next BATCH sessions of the activity index after `from` ({activity, key}, nil at the start):
-- those that hold a plain token, where to go on from, and whether it reached the end. A session
-- written since moves forward in this index (activity only grows), so none is passed over.
local function scan(from)
    local found, last, scanned = {}, nil, 0
    local index = space.get().index.activity
    for _, t in index:pairs(from, {iterator = from == nil and 'GE' or 'GT'}) do
        if scanned >= BATCH then return found, last, false end
        scanned = scanned + 1
        last = {t[F.activity], t[F.token]}
        if keys.is_token(t[F.token]) then found[#found + 1] = t end
    end
    return found, last, true
end

-- Moves the plain-token sessions among the next BATCH of the activity index after `from` to
-- their hashed keys, in a transaction. Returns whether it reached the end, where to go on from,
-- and how many it moved (sessions.conversions).
local function step(from)
    local s = space.get()
    local found, last, complete = scan(from)
    if #found == 0 then return complete, last, 0 end
    events.atomic(function()
        events.emit_reset('tokens_hashed')
        for _, t in ipairs(found) do
            -- Read again inside the transaction: it may have changed or gone since the scan.
            local current = s:get(t[F.token])
            if current ~= nil then
                local now_s = activity.of(current)
                s:delete(current[F.token])
                s:insert(current:transform(F.token, 1, keys.hash(current[F.token])):transform(F.activity, 1, now_s))
            end
        end
    end)
    -- The moved sessions may sit before where the sweep goes on from.
    expiry.rewind()
    return complete, last, #found
end

-- The conversion, run on the writable member by sessions.conversions: needed once
-- TOKEN_STORAGE=hashed is set (sessions.configure wakes the runner), until its end is recorded.
M.conversion = {
    what = 'hashing plain tokens',
    needed = keys.converting,
    step = step,
    finish = keys.converted,
}

return M

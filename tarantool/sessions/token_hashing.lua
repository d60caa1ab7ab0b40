-- Background conversion of plain tokens to their hashes once TOKEN_STORAGE=hashed is set, while
-- the instance serves: batches of BATCH sessions in a transaction each, yielding between them, on
-- the master only. A session is moved to its hashed key (delete and insert in one transaction),
-- with its newest activity. Until it is done, lookups by token also try the plain key
-- (sessions.keys.find). When it is done it says so in _schema and is not run again.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local log = require('log')
local activity = require('sessions.activity')
local expiry = require('sessions.expiry')
local keys = require('sessions.keys')
local space = require('sessions.space')

local F = space.F
local FIBER_NAME = 'sessions.token_hashing'
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

local function run()
    local s = space.get()
    local total, from = 0, nil
    local started = fiber.clock()
    repeat
        if box.info.ro or not keys.hashed() then return end
        local found, last, complete = scan(from)
        box.atomic(function()
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
        total = total + #found
        from = last
        -- The moved sessions may sit before where the sweep goes on from.
        if #found > 0 then expiry.rewind() end
        fiber.yield()
    until complete
    keys.converted()
    log.info('sessions: hashed %d plain tokens in %.1f s', total, fiber.clock() - started)
end

-- Starts the conversion when one is needed, unless it runs already. A failed pass (a WAL error)
-- is logged and tried again a second later, from the start: what was converted is passed over.
function M.start()
    if box.info.ro or not keys.converting() or fibers.running(FIBER_NAME) then return end
    fiber.create(function()
        fiber.self():name(FIBER_NAME)
        while not box.info.ro and keys.converting() do
            local ok, err = pcall(run)
            -- A member that became read-only stops here (sessions.role cancels it).
            if not ok and not box.info.ro then
                log.error('sessions: hashing tokens failed, trying again in 1 s: %s', err)
                fiber.sleep(1)
            end
        end
    end)
end

-- Stops the conversion: the member is read-only. The writable member goes on with it from the
-- start (what is converted is passed over), and it records its end in _schema.
function M.stop()
    fibers.stop(FIBER_NAME)
end

return M

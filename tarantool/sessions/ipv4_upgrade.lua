-- Background conversion of IPv4 addresses stored as text (schema 1) to their 32-bit numbers
-- (schema 2), while the instance serves: batches of BATCH sessions in a transaction each,
-- yielding between them, on the master only. Until it is done, lookups by ip also look for the
-- text form (see api.by_ip). Safe to run again: it converts what is left. When it is done it says
-- so in _schema, and neither it nor the lookups of the text form run again.
local fiber = require('fiber')
local fibers = require('sessions.fibers')
local log = require('log')
local space = require('sessions.space')

local F = space.F
local FIBER_NAME = 'sessions.ipv4_upgrade'
local BATCH = 500

local M = {}

local DONE_KEY = 'sessions_ipv4_numbers'
-- Unknown until read from _schema.
local pending = nil

-- Whether sessions may still hold IPv4 addresses as text.
function M.pending()
    if pending == nil then pending = box.space._schema:get(DONE_KEY) == nil end
    return pending
end

-- 'a.b.c.d' -> its 32-bit number; nil for anything else (an IPv6 address).
function M.number(ip)
    local a, b, c, d = ip:match('^(%d+)%.(%d+)%.(%d+)%.(%d+)$')
    if a == nil then return nil end
    return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
end

-- An ip as it is stored: a text IPv4 address (from a service older than schema 2) as its
-- number; anything else as it is.
function M.stored(ip)
    if type(ip) == 'string' then
        return M.number(ip) or ip
    end
    return ip
end

-- Its number -> 'a.b.c.d'.
function M.text(n)
    return string.format('%d.%d.%d.%d', bit.band(bit.rshift(n, 24), 255), bit.band(bit.rshift(n, 16), 255),
        bit.band(bit.rshift(n, 8), 255), bit.band(n, 255))
end

-- Converts the text IPv4 addresses among the next BATCH sessions of the ip index from text
-- `from` (numbers sort before text there, so GE '' starts with the first text). Returns what to
-- convert, where to go on from, and whether it reached the end of the index.
local function convert_batch(from, iterator)
    local keys, numbers = {}, {}
    local last, scanned = nil, 0
    for _, t in space.get().index.ip:pairs(from, {iterator = iterator}) do
        if scanned >= BATCH then
            -- Converted sessions leave the text part: what is left of an IPv4 address is found
            -- again from it (GE); an IPv6 address is passed (GT).
            return keys, numbers, last, M.number(last) ~= nil and 'GE' or 'GT', false
        end
        local ip = t[F.ip]
        last, scanned = ip, scanned + 1
        local number = M.number(ip)
        if number ~= nil then
            keys[#keys + 1] = t[F.token]
            numbers[#numbers + 1] = number
        end
    end
    return keys, numbers, last, 'GT', true
end

local function run()
    fiber.self():name(FIBER_NAME)
    local s = space.get()
    local total, from, iterator = 0, '', 'GE'
    local started = fiber.clock()
    repeat
        if box.info.ro then return end
        local keys, numbers, last, next_iterator, complete = convert_batch(from, iterator)
        box.atomic(function()
            for i, key in ipairs(keys) do
                s:update(key, {{'=', F.ip, numbers[i]}})
            end
        end)
        total = total + #keys
        from, iterator = last, next_iterator
        fiber.yield()
    until complete
    box.space._schema:replace{DONE_KEY, true}
    pending = false
    if total > 0 then
        log.info('sessions: stored %d IPv4 addresses as numbers in %.1f s', total, fiber.clock() - started)
    end
end

-- Starts the conversion, unless one from an earlier load of this code is running. Run when the
-- member becomes writable (sessions.role): on a replica, the record of the end may have arrived
-- by replication since `pending` was read, so it is read again.
function M.start()
    pending = nil
    if not M.pending() or fibers.running(FIBER_NAME) or box.info.ro then return end
    fiber.create(function()
        local ok, err = pcall(run)
        -- A member that became read-only stops here (sessions.role cancels it).
        if not ok and not box.info.ro then log.error('sessions: IPv4 conversion failed: %s', err) end
    end)
end

-- Stops the conversion: the member is read-only. The writable member converts what is left.
function M.stop()
    fibers.stop(FIBER_NAME)
end

return M

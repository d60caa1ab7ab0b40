-- Background conversion of IPv4 addresses stored as text (schema 1) to their 32-bit numbers
-- (schema 2), while the instance serves: batches of BATCH sessions in a transaction each, run by
-- sessions.conversions on the writable member. Until it is done, lookups by ip also look for the
-- text form (see api.by_ip). Safe to run again: it converts what is left. When it is done it says
-- so in _schema, and neither it nor the lookups of the text form run again.
local ips = require('sessions.ips')
local space = require('sessions.space')

local F = space.F
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

-- Converts the text IPv4 addresses among the next BATCH sessions of the ip index from `from`
-- ({ip, iterator}; nil: from the first text, as numbers sort before text there), in a
-- transaction. Returns whether it reached the end of the index, where to go on from, and how
-- many it converted (sessions.conversions).
local function step(from)
    local s = space.get()
    local keys, numbers = {}, {}
    local last, scanned, next_from = nil, 0, nil
    from = from or {'', 'GE'}
    for _, t in s.index.ip:pairs(from[1], {iterator = from[2]}) do
        if scanned >= BATCH then
            -- Converted sessions leave the text part: what is left of an IPv4 address is found
            -- again from it (GE); an IPv6 address is passed (GT).
            next_from = {last, ips.number(last) ~= nil and 'GE' or 'GT'}
            break
        end
        local ip = t[F.ip]
        last, scanned = ip, scanned + 1
        local number = ips.number(ip)
        if number ~= nil then
            keys[#keys + 1] = t[F.token]
            numbers[#numbers + 1] = number
        end
    end
    box.atomic(function()
        for i, key in ipairs(keys) do
            s:update(key, {{'=', F.ip, numbers[i]}})
        end
    end)
    return next_from == nil, next_from, #keys
end

-- The conversion, run on the writable member by sessions.conversions. On a replica, the record
-- of the end may have arrived by replication since `pending` was read: it is read again.
M.conversion = {
    what = 'storing IPv4 addresses as numbers',
    needed = function()
        pending = nil
        return M.pending()
    end,
    step = step,
    finish = function()
        box.space._schema:replace{DONE_KEY, true}
        pending = false
    end,
}

return M

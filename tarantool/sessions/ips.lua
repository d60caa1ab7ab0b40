-- An ip as the service sends and answers it, canonical text (the service's params.ts makes it
-- so), and as a session stores it: an IPv4 address as its 32-bit number (5 bytes of MessagePack
-- instead of up to 16, and an index of numbers), an IPv6 address as its text. Both ways, here only.
local bit = require('bit')

local M = {}

-- 'a.b.c.d' -> its 32-bit number; nil for anything else (an IPv6 address).
function M.number(ip)
    local a, b, c, d = ip:match('^(%d+)%.(%d+)%.(%d+)%.(%d+)$')
    if a == nil then return nil end
    return ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
end

-- An ip as it is stored: an IPv4 address's text as its number; anything else as it is (an IPv6
-- address's text, or a number already: the service sends /new's and /get's IPv4 addresses as
-- numbers, since M.number's pattern keeps LuaJIT from compiling the procedure that calls it, 2.5
-- to 3 us per /new. An IPv6 address, told by its colon, skips it too).
function M.stored(ip)
    if type(ip) == 'string' and not ip:find(':', 1, true) then
        return M.number(ip) or ip
    end
    return ip
end

-- Its number -> 'a.b.c.d'.
function M.ipv4(n)
    return string.format('%d.%d.%d.%d', bit.band(bit.rshift(n, 24), 255), bit.band(bit.rshift(n, 16), 255),
        bit.band(bit.rshift(n, 8), 255), bit.band(n, 255))
end

-- A stored ip as the service answers it.
function M.text(ip)
    if type(ip) == 'string' then return ip end
    return M.ipv4(ip)
end

return M

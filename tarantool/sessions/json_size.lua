-- The size of a value as JSON, the one rule for EXTRA_MAX_BYTES on /new and /get alike: the
-- bytes that JavaScript's JSON.stringify writes for the value as stored (UTF-8). Tarantool's json
-- encoder cannot serve: it writes 14 significant digits and escapes '/'.
-- Values come from Node through msgpack: tables decoded with __serialize 'map' or 'seq' (empty
-- ones too: '{}' and '[]' are both 2 bytes), strings of valid UTF-8 (Node writes a lone surrogate
-- as U+FFFD, so it is measured as stored, 3 bytes, not as JSON.stringify's 6-byte escape),
-- numbers (Lua numbers; int64/uint64 cdata for integers read back from a tuple), booleans and
-- box.NULL.
local ffi = require('ffi')

local M = {}

-- JSON.stringify's escapes: two bytes for these, \u00XX (six) for other bytes below 0x20.
local SHORT_ESCAPES = {['"'] = true, ['\\'] = true, ['\b'] = true, ['\f'] = true, ['\n'] = true,
    ['\r'] = true, ['\t'] = true}
local ESCAPED = '[%z\1-\31"\\]'
-- Numbers as large as this are written as exponentials.
local EXPONENTIAL_FROM = 1e21
local SMALLEST_NORMAL = 2.2250738585072014e-308

local int64_t = ffi.typeof('int64_t')
local uint64_t = ffi.typeof('uint64_t')

-- Adds the size of string s to total; stops adding once past limit. Escapes only add, so a
-- string longer than what is left is not read.
local function add_string(s, total, limit)
    total = total + #s + 2
    if total > limit then return total end
    for c in s:gmatch(ESCAPED) do
        total = total + (SHORT_ESCAPES[c] and 1 or 5)
    end
    return total
end

-- LuaJIT's tonumber() takes 25-40 us to read a decimal exponent past 300, strtod under 1 us.
-- Declared under pcall: a reload of this module, or another module, may have declared it.
pcall(ffi.cdef, 'double strtod(const char *nptr, char **endptr);')

-- '%.<p>e' for p from 0 to 16: p + 1 significant digits.
local FORMATS = {}
for p = 0, 16 do FORMATS[p] = '%.' .. p .. 'e' end

-- The decimal of p + 1 digits nearest to x: its digits, and the power of ten they scale by.
local function nearest(x, p)
    local lead, rest, exponent = string.format(FORMATS[p], x):match('^(%d)%.?(%d*)e(.+)$')
    return lead .. rest, tonumber(exponent) - p
end

-- The digits one unit in their last place more ('199' gives '200', '99' gives '100').
local function above(digits)
    local head, nines = digits:match('^(.-)(9*)$')
    return head:sub(1, -2) .. ((tonumber(head:sub(-1)) or 0) + 1) .. string.rep('0', #nines)
end

-- The double that digits * 10^e reads as. Written without a decimal point, which strtod would
-- read by the locale.
local function read(digits, e)
    return ffi.C.strtod(digits .. 'e' .. e, nil)
end

-- A decimal of p + 1 digits that reads back as x, if there is one: the nearest, or else, when
-- that is below x, the one above it, as the gap above a power of two is twice the gap below.
local function round_trip(x, p)
    local digits, e = nearest(x, p)
    local back = read(digits, e)
    if back == x then return digits, e end
    if back > x then return nil end
    digits = above(digits)
    if read(digits, e) == x then return digits, e end
end

-- The shortest decimal that reads back as x (finite, > 0), whose digits JavaScript writes, as
-- in round_trip but for its final zeros. No two decimals of fifteen digits read as the same
-- normal double (DBL_DIG): if one reads back as x, the shortest is it without its final zeros.
-- Subnormals, less precise, are searched by halves: a decimal that reads back is one of every
-- greater number of digits too (with zeros after it).
local function shortest(x)
    if x >= SMALLEST_NORMAL then
        for p = 14, 16 do
            local digits, e = round_trip(x, p)
            if digits ~= nil then return digits, e end
        end
    end
    local lo, hi = 0, 16
    while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if round_trip(x, mid) then hi = mid else lo = mid + 1 end
    end
    return round_trip(x, lo)
end

-- The length of Number#toString of a finite x > 0, by the cases of the ECMAScript
-- specification: x is 0.d1..dk * 10^n, with the k digits of shortest(x) without its final zeros.
local function positive_number_size(x)
    if x < EXPONENTIAL_FROM and x == math.floor(x) then
        -- Written in full, its shortest digits then zeros: as many as the integer has digits.
        return #string.format('%.0f', x)
    end
    local digits, e = shortest(x)
    local k = #(digits:gsub('0+$', ''))
    local n = #digits + e
    if 0 < n and n <= 21 then return k + 1 end
    if -6 < n and n <= 0 then return 2 - n + k end
    return k + (k > 1 and 1 or 0) + 2 + #tostring(math.abs(n - 1))
end

local function number_size(x)
    if x ~= x or x == math.huge or x == -math.huge then return 4 end -- null
    if x == 0 then return 1 end -- -0 too
    if x < 0 then return 1 + positive_number_size(-x) end
    return positive_number_size(x)
end

local function is_array(t)
    local mt = getmetatable(t)
    local kind = mt ~= nil and mt.__serialize or nil
    if kind == 'seq' or kind == 'sequence' or kind == 'array' then return true end
    if kind == 'map' or kind == 'mapping' then return false end
    if kind ~= nil then error('json_size: cannot measure a table serialized as ' .. tostring(kind)) end
    -- Built in Lua: an array when its keys are 1..n.
    local n, count = #t, 0
    for _ in pairs(t) do
        count = count + 1
        if count > n then return false end
    end
    return true
end

local measure

local function array_size(t, total, limit)
    local n = #t
    total = total + 2 + (n > 0 and n - 1 or 0)
    for i = 1, n do
        if total > limit then return total end
        total = measure(t[i], total, limit)
    end
    return total
end

local function map_size(t, total, limit)
    total = total + 1
    for k, v in pairs(t) do
        if type(k) ~= 'string' then
            error('json_size: cannot measure a map key of type ' .. type(k))
        end
        -- Its colon, and the comma after it or the closing brace after the last.
        total = add_string(k, total + 2, limit)
        if total > limit then return total end
        total = measure(v, total, limit)
    end
    return total + (next(t) == nil and 1 or 0)
end

-- Adds the size of v to total; stops adding once past limit.
measure = function(v, total, limit)
    local kind = type(v)
    if kind == 'string' then
        return add_string(v, total, limit)
    elseif kind == 'number' then
        return total + number_size(v)
    elseif kind == 'boolean' then
        return total + (v and 4 or 5)
    elseif kind == 'table' then
        if is_array(v) then return array_size(v, total, limit) end
        return map_size(v, total, limit)
    elseif v == nil then
        return total + 4 -- nil and box.NULL: null
    elseif ffi.istype(int64_t, v) or ffi.istype(uint64_t, v) then
        -- The number Node reads it as.
        return total + number_size(tonumber(v))
    end
    error('json_size: cannot measure a value of type ' .. kind)
end

-- The number of bytes of JSON.stringify(value) in UTF-8, for a value as the service stores it.
-- Raises on what JSON cannot hold (functions, userdata, cdata other than box.NULL and 64-bit
-- integers, tables serialized otherwise than as a map or array, map keys that are not strings).
function M.size(value)
    return measure(value, 0, math.huge)
end

-- Whether M.size(value) > max, found at a cost of about max bytes however large the value is.
function M.exceeds(value, max)
    return measure(value, 0, max) > max
end

return M

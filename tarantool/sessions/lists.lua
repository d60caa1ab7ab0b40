-- Lists as pages: a user's or an address's sessions walked along the user_id or ip index, which
-- orders them by (key, activity, stored key), from the newest or from a position, never collected
-- and sorted whole.
local fiber = require('fiber')
local activity = require('sessions.activity')
local settings = require('sessions.settings')
local space = require('sessions.space')

local F = space.F
-- The most a page holds, in bytes of tuples: a page of sessions with large extra data ends
-- sooner (its `next` says so), so that no answer is built, sent or serialized in one block of
-- more than this, here or in the service. The service decodes and serializes about 30 ms a MB:
-- 256 KB keep it near 10 ms; 1000 sessions without extra take about 100 KB.
local PAGE_BYTES = 256 * 1024

local M = {}

-- Whether session `a` comes before `b` in a list: newer stored activity first, then the greater
-- key, as the user_id and ip indexes order them.
local function before(a, b)
    if a[F.activity] ~= b[F.activity] then return a[F.activity] > b[F.activity] end
    -- Big-endian bytes compare as Tarantool orders uuids (bin() alone is in host order).
    return a[F.token]:bin('b') > b[F.token]:bin('b')
end

-- Up to `n` live sessions of `index` whose key (field `field`) is `key`, in the index's order
-- from the newest, after the position `after` ({activity, key}) when given. Stops at the first
-- expired one: all after it are older. O(log n + n) whatever the key's total.
local function walk(index, field, key, after, cutoff, n)
    local out, bytes = {}, 0
    local from, iterator = {key}, 'REQ'
    if after ~= nil then from, iterator = {key, after[1], after[2]}, 'LT' end
    for _, t in index:pairs(from, {iterator = iterator}) do
        -- LT goes on into the keys below this one.
        if #out >= n or t[field] ~= key or t[F.activity] < cutoff then break end
        out[#out + 1] = t
        bytes = bytes + t:bsize()
        -- One more past the budget: it tells that a next page follows.
        if bytes > PAGE_BYTES and #out < n then n = #out + 1 end
    end
    return out
end

-- Merges two lists each in `before` order.
local function merged(a, b)
    local out, i, j = {}, 1, 1
    while a[i] ~= nil or b[j] ~= nil do
        if b[j] == nil or (a[i] ~= nil and before(a[i], b[j])) then
            out[#out + 1], i = a[i], i + 1
        else
            out[#out + 1], j = b[j], j + 1
        end
    end
    return out
end

-- A page of live sessions whose `index_name` key is one of `keys` (one, or an ip in both its
-- forms), newest activity first: at most `limit`, after the position `after` ({activity, key})
-- when given. Returns
-- {sessions = tuples, next = the position of the last one, when more follow}.
function M.page(index_name, keys, limit, after)
    if type(limit) ~= 'number' or limit < 1 or limit ~= math.floor(limit) then
        error('limit must be a positive integer')
    end
    local field = F[index_name]
    for _, key in ipairs(keys) do
        -- A nil key would match every tuple of the index.
        if key == nil then error('a key is required') end
        -- Marks not written yet would be met out of their order.
        activity.settle(index_name, key)
    end
    local index = space.get().index[index_name]
    local cutoff = math.floor(fiber.time()) - settings.get().ttl
    local found = walk(index, field, keys[1], after, cutoff, limit + 1)
    if keys[2] ~= nil then found = merged(found, walk(index, field, keys[2], after, cutoff, limit + 1)) end
    -- Marks are looked for by any key: a session marked under one form of an ip may be listed
    -- under the other (sessions.ipv4_upgrade). Those taken while settling are shown.
    local marked = false
    for _, key in ipairs(keys) do
        marked = marked or activity.may_be_marked(index_name, key)
    end
    -- The walks stop one past the page: at `limit`, or sooner past PAGE_BYTES.
    local size = math.min(limit, #found)
    local bytes = 0
    for i = 1, size do
        bytes = bytes + found[i]:bsize()
        if bytes > PAGE_BYTES then
            size = i
            break
        end
    end
    local out = {}
    for i = 1, size do
        out[i] = marked and activity.current(found[i]) or found[i]
    end
    local last = found[size]
    local next_position = nil
    if #found > size then next_position = {last[F.activity], last[F.token]} end
    return {sessions = out, next = next_position}
end

return M

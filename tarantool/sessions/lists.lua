-- Lists as pages: a user's or an address's sessions walked along the user_id or ip index, which
-- orders them by (key, stored activity, stored key), from the newest or from a position, never
-- collected and sorted whole. A session's newest activity can be newer than its stored one, but
-- always within the same window of sessions.activity.STEP seconds: the walk reads a window at a
-- time and sorts it by the newest activity, which gives the exact order of last use.
local fiber = require('fiber')
local activity = require('sessions.activity')
local expiry = require('sessions.expiry')
local ips = require('sessions.ips')
local space = require('sessions.space')

local F = space.F
local STEP = activity.STEP
local window = activity.window
-- The most a page holds, in bytes of tuples: a page of sessions with large extra data ends
-- sooner (its `next` says so), so that no answer is built, sent or serialized in one block of
-- more than this, here or in the service. The service decodes and serializes about 30 ms a MB:
-- 256 KB keep it near 10 ms; 1000 sessions without extra take about 100 KB.
local PAGE_BYTES = 256 * 1024
-- The most sessions gone but not swept yet a page passes over (see walk).
local SKIP = 1000

local M = {}

-- Whether session `a` comes before `b` in a list: newer activity first, then the greater key, as
-- the user_id and ip indexes order ties.
local function precedes(a_activity, a_key, b_activity, b_key)
    if a_activity ~= b_activity then return a_activity > b_activity end
    -- Big-endian bytes compare as Tarantool orders uuids (bin() alone is in host order).
    return a_key:bin('b') > b_key:bin('b')
end

-- Entries are {tuple, newest activity, key, the key's bytes once a tie needed them}: the stored
-- tuple is answered as it is, with its newest activity beside it (a tuple rebuilt with it would
-- cost more than the rest of the walk), and its key read out of it once (a uuid field costs a
-- decoding each time it is read).
local function bytes_of(e)
    local b = e[4]
    if b == nil then
        b = e[3]:bin('b')
        e[4] = b
    end
    return b
end

local function before(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return bytes_of(a) > bytes_of(b)
end

-- The same for positions, {activity, key}; and whether the position p comes before the entry e.
local function position_before(p, q)
    return precedes(p[1], p[2], q[1], q[2])
end

local function position_before_entry(p, e)
    return precedes(p[1], p[2], e[2], e[3])
end

-- Sorts entries in list order, in place. A window mostly holds few sessions of one user or
-- address: an insertion sort, whose comparisons run as compiled Lua (table.sort calls its
-- comparator from C, which LuaJIT cannot compile). A crowded window (a user with hundreds of
-- sessions made within one) takes table.sort's n log n comparisons instead of n^2 / 4.
local INSERTION_MAX = 16

local function sort_window(entries)
    if #entries > INSERTION_MAX then
        table.sort(entries, before)
        return entries
    end
    for i = 2, #entries do
        local e = entries[i]
        local j = i - 1
        while j >= 1 and before(e, entries[j]) do
            entries[j + 1] = entries[j]
            j = j - 1
        end
        entries[j + 1] = e
    end
    return entries
end

-- Up to `n` live sessions of `index` whose key (field `field`) is `key`, in list order from the
-- newest, after the position `after` ({activity, key}) when given, as entries.
-- Sessions gone but not swept yet are passed over, at most SKIP of them: a walk that meets more
-- stops there and returns the position of the last it looked at (the page's `next`).
-- O(log n + the windows it reads) whatever the key's total.
local function walk(index, field, key, after, now_s, n)
    local out, bytes, skipped = {}, 0, 0
    local from, iterator = {key}, 'REQ'
    -- The window of the position, from its last second: its sessions after the position follow.
    if after ~= nil then from, iterator = {key, window(after[1]) + STEP - 1}, 'LE' end
    -- Takes the sessions of one window, in order; true when the walk is over.
    local cut = nil
    local function take(entries)
        for _, e in ipairs(sort_window(entries)) do
            local t = e[1]
            if after == nil or position_before_entry(after, e) then
                if expiry.is_live(t, now_s, nil, e[2]) then
                    if #out >= n then return true end
                    out[#out + 1] = e
                    bytes = bytes + t:bsize()
                    -- One more past the budget: it tells that a next page follows.
                    if bytes > PAGE_BYTES and #out < n then n = #out + 1 end
                else
                    skipped = skipped + 1
                    if skipped >= SKIP then
                        cut = {e[2], e[3]}
                        return true
                    end
                end
            end
        end
        return #out >= n
    end
    local sessions, current = {}, nil
    for _, t in index:pairs(from, {iterator = iterator}) do
        -- LE goes on into the keys below this one.
        if t[field] ~= key then break end
        local w = window(t[F.activity])
        if w ~= current then
            if current ~= nil and take(sessions) then return out, cut end
            sessions, current = {}, w
        end
        local k = t[F.token]
        sessions[#sessions + 1] = {t, activity.of(t, k), k}
    end
    if #sessions > 0 then take(sessions) end
    return out, cut
end

-- Merges two lists of entries each in `before` order.
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
-- when given. Returns {sessions = the stored tuples, activities = each one's newest activity,
-- expires = the second each is gone if not used again, ips = each one's ip as text, next = the
-- position of the last one, when more follow}.
function M.page(index_name, keys, limit, after)
    if type(limit) ~= 'number' or limit < 1 or limit ~= math.floor(limit) then
        error('limit must be a positive integer')
    end
    local field = F[index_name]
    for _, key in ipairs(keys) do
        -- A nil key would match every tuple of the index.
        if key == nil then error('a key is required') end
        -- A mark not written yet may belong in another window: it would be met out of its order.
        -- Marks are looked for by any key: a session marked under one form of an ip may be
        -- listed under the other (sessions.ipv4_upgrade).
        activity.settle(index_name, key)
    end
    local index = space.get().index[index_name]
    local now_s = math.floor(fiber.time())
    local found, cut = walk(index, field, keys[1], after, now_s, limit + 1)
    if keys[2] ~= nil then
        local other, other_cut = walk(index, field, keys[2], after, now_s, limit + 1)
        found = merged(found, other)
        -- A walk that stopped at SKIP knows nothing past its cut: the page ends at the first cut.
        if cut == nil or (other_cut ~= nil and position_before(other_cut, cut)) then cut = other_cut end
    end
    if cut ~= nil then
        local known = {}
        for _, e in ipairs(found) do
            if position_before_entry(cut, e) then break end
            known[#known + 1] = e
        end
        found = known
    end
    -- The walks stop one past the page: at `limit`, or sooner past PAGE_BYTES.
    local size = math.min(limit, #found)
    local bytes = 0
    for i = 1, size do
        bytes = bytes + found[i][1]:bsize()
        if bytes > PAGE_BYTES then
            size = i
            break
        end
    end
    local out, activities, expires, texts = {}, {}, {}, {}
    for i = 1, size do
        out[i], activities[i] = found[i][1], found[i][2]
        expires[i] = expiry.expires(out[i], activities[i])
        texts[i] = ips.text(out[i][F.ip])
    end
    local last = found[size]
    local next_position = nil
    if #found > size then
        next_position = {last[2], last[3]}
    elseif cut ~= nil then
        next_position = cut
    end
    return {sessions = out, activities = activities, expires = expires, ips = texts, next = next_position}
end

return M

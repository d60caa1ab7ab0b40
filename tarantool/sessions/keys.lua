-- How a session's token is kept, by TOKEN_STORAGE: the token itself ('plain'), or its one-way
-- hash ('hashed'), so that no snapshot, xlog, backup or console read yields a usable token.
-- A hash is the first 16 bytes of SHA-256(token's 16 bytes) with the uuid version nibble set to
-- 0 and the RFC 4122 variant bits (Tarantool refuses a uuid of the reserved variant): it fits the
-- uuid field as a token does (no memory added), and it never reads as a v4 token, which tells a
-- hashed key from a plain one in the same space while plain data is converted.
-- Tokens are 122 random bits: no salt or stretching is needed, as nobody can search 2^122 values.
local digest = require('digest')
local uuid = require('uuid')
local settings = require('sessions.settings')

local M = {}

local DONE_KEY = 'sessions_tokens_hashed'

-- The hashed key of a token (uuid).
function M.hash(token)
    local h = digest.sha256(token:bin('b'))
    local version = string.char(bit.band(h:byte(7), 0x0f))
    local variant = string.char(bit.bor(bit.band(h:byte(9), 0x3f), 0x80))
    return uuid.frombin(h:sub(1, 6) .. version .. h:sub(8, 8) .. variant .. h:sub(10, 16), 'b')
end

-- Whether a stored key is a token (uuid version 4) rather than a hash (version 0).
function M.is_token(key)
    return bit.rshift(key:bin('b'):byte(7), 4) == 4
end

function M.hashed()
    return settings.get().token_storage == 'hashed'
end

-- Whether sessions stored before TOKEN_STORAGE=hashed may still hold their plain token.
function M.converting()
    return M.hashed() and box.space._schema:get(DONE_KEY) == nil
end

-- Records that no plain token is left.
function M.converted()
    box.space._schema:replace{DONE_KEY, true}
end

-- The key a new session with this token is stored under.
function M.stored(token)
    if M.hashed() then return M.hash(token) end
    return token
end

-- The keys a session of this token may be stored under: its key, and while plain tokens are
-- being hashed the token itself.
function M.forms(token)
    if not M.hashed() then return {token} end
    if M.converting() then return {M.hash(token), token} end
    return {M.hash(token)}
end

-- The session stored under `key`, a key read earlier (from an id, or another space), and the
-- key it is stored under now: the same, or its hash if tokens were hashed since.
function M.resolve(space, key)
    local t = space:get(key)
    if t == nil and M.hashed() and M.is_token(key) then
        local hashed = M.hash(key)
        return space:get(hashed), hashed
    end
    return t, key
end

-- The session whose token this is, and the key it is stored under; nil if there is none.
function M.find(space, token)
    if not M.hashed() then return space:get(token), token end
    local key = M.hash(token)
    local t = space:get(key)
    if t == nil and M.converting() then
        key = token
        t = space:get(key)
    end
    return t, key
end

return M

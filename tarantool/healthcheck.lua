#!/usr/bin/env tarantool
-- Container healthcheck: exits 0 when the instance on TARANTOOL_PORT serves, else 1 with why.
-- It asks the instance what it is (sessions.member, as the service user, as the service asks):
-- ready (its procedures registered), running (not loading, not an orphan), and in a replica set
-- caught up: the writable member takes writes, a read-only one follows its upstreams, none of
-- them still catching up ('sync'), and at least one of them.
local digest = require('digest')
local msgpack = require('msgpack')
local socket = require('socket')

local function fail(why)
    io.stderr:write('unhealthy: ' .. why .. '\n')
    os.exit(1)
end

-- A bare IPROTO client: net.box would read the schema's system spaces first, which the service
-- user may not (tarantool/sessions/access.lua), so this speaks the protocol itself.
local TIMEOUT = 2
local function request(conn, sync, kind, body)
    local header = msgpack.encode({[0x00] = kind, [0x01] = sync})
    local payload = header .. msgpack.encode(body)
    -- The length first, as a 32-bit MessagePack unsigned integer.
    local n = #payload
    conn:write(string.char(0xce, bit.band(bit.rshift(n, 24), 255), bit.band(bit.rshift(n, 16), 255),
        bit.band(bit.rshift(n, 8), 255), bit.band(n, 255)) .. payload)
    local prefix = conn:read(5, TIMEOUT)
    if prefix == nil or #prefix < 5 then fail('no answer') end
    local size = msgpack.decode(prefix)
    local packet = conn:read(size, TIMEOUT)
    if packet == nil or #packet < size then fail('a short answer') end
    local head, next = msgpack.decode(packet)
    local answer = msgpack.decode(packet, next)
    local code = head[0x00]
    if code ~= 0 then fail((answer[0x31] or ('error ' .. code)) .. '') end
    return answer[0x30]
end

-- chap-sha1: sha1(password) xor sha1(salt .. sha1(sha1(password))), salt the greeting's first 20 bytes.
local function scramble(salt, password)
    local hash1 = digest.sha1(password)
    local hash2 = digest.sha1(hash1)
    local mask = digest.sha1(salt:sub(1, 20) .. hash2)
    local out = {}
    for i = 1, 20 do out[i] = string.char(bit.bxor(hash1:byte(i), mask:byte(i))) end
    return table.concat(out)
end

local listen = os.getenv('TARANTOOL_PORT') or '3301'
local host, port = listen:match('^(.+):(%d+)$')
local conn = socket.tcp_connect(host or '127.0.0.1', port or listen, TIMEOUT)
if conn == nil then fail('no connection') end
local greeting = conn:read(128, TIMEOUT)
if greeting == nil or #greeting < 128 or greeting:find('^Tarantool') == nil then fail('no greeting') end
local salt = digest.base64_decode(greeting:sub(65, 108))
local user = os.getenv('TARANTOOL_USER_NAME') or 'sessions'
local password = os.getenv('TARANTOOL_USER_PASSWORD') or ''
request(conn, 1, 0x07, {[0x23] = user, [0x21] = {'chap-sha1', scramble(salt, password)}})
local member = request(conn, 2, 0x0a, {[0x22] = 'sessions.member', [0x21] = {}})[1]
conn:close()
if member.status ~= 'running' then fail('status ' .. tostring(member.status)) end

if os.getenv('TARANTOOL_REPLICATION') ~= nil and os.getenv('TARANTOOL_REPLICATION') ~= '' and member.ro then
    local following = 0
    for _, peer in ipairs(member.replication) do
        local up = peer.upstream
        if up ~= nil and up.status == 'sync' then fail('catching up with member ' .. peer.id) end
        if up ~= nil and up.status == 'follow' then following = following + 1 end
    end
    if following == 0 then fail('read-only and following no member') end
end
os.exit(0)

-- Schema migrations: an ordered, append-only list. The applied version is kept in _schema.
-- Never edit or reorder a step that has shipped; add a new one.
local log = require('log')
local digest = require('digest')
local secret = require('sessions.secret')
local space = require('sessions.space')

local VERSION_KEY = 'sessions_schema_version'
local steps = {
    {
        name = 'create the sessions space and its indexes',
        up = function()
            local s = box.schema.space.create(space.NAME, {
                format = {
                    {name = 'token', type = 'uuid'},
                    {name = 'user_id', type = 'unsigned'},
                    {name = 'ip', type = 'string'},
                    {name = 'create', type = 'unsigned'},
                    {name = 'activity', type = 'unsigned'},
                    {name = 'extra', type = 'map', is_nullable = true},
                },
            })
            s:create_index('primary', {type = 'HASH', parts = {'token'}})
            -- Secondary keys get the primary key appended, so these stay non-unique.
            s:create_index('user_id', {type = 'TREE', unique = false, parts = {'user_id'}})
            s:create_index('ip', {type = 'TREE', unique = false, parts = {'ip'}})
            -- Walked in order by the expiry fiber: oldest activity first.
            s:create_index('activity', {type = 'TREE', unique = false, parts = {'activity'}})
        end,
    },
    {
        -- IPv4 addresses as 32-bit numbers: 5 bytes of msgpack instead of up to 16 of text
        -- (3 bytes less per session once allocated). New writes store numbers from now on; the
        -- sessions already there are converted in the background (sessions.ipv4_upgrade).
        name = 'let the ip field hold numbers (IPv4) as well as text (IPv6)',
        up = function()
            local s = space.get()
            local format = s:format()
            format[space.F.ip].type = 'scalar'
            s:format(format)
            -- scalar orders text as string did: the index is not rebuilt.
            s.index.ip:alter({parts = {{'ip', 'scalar'}}})
        end,
    },
    {
        -- Lists are pages walked newest first: a user's or an address's sessions in the order
        -- (activity, token) descending, from a cursor, without collecting and sorting. The token
        -- makes each key unique, so a cursor names one position. A tree entry is a tuple pointer
        -- and a hint whatever its parts: no memory per session is added. Rebuilding an index of a
        -- filled space yields, so this step runs outside a transaction and is idempotent.
        name = 'order the user_id, ip and activity indexes by (activity, token)',
        atomic = false,
        up = function()
            local s = space.get()
            s.index.user_id:alter({unique = true,
                parts = {{'user_id', 'unsigned'}, {'activity', 'unsigned'}, {'token', 'uuid'}}})
            s.index.ip:alter({unique = true, parts = {{'ip', 'scalar'}, {'activity', 'unsigned'}, {'token', 'uuid'}}})
            s.index.activity:alter({unique = true, parts = {{'activity', 'unsigned'}, {'token', 'uuid'}}})
        end,
    },
    {
        -- The key of session ids and list cursors (sessions.secret): made once, kept in _schema,
        -- replicated with it.
        name = 'a secret for session ids and list cursors',
        up = function()
            box.space._schema:insert{secret.KEY, string.hex(digest.urandom(32))}
        end,
    },
    {
        -- A session's own idle timeout and absolute end, and the key its id is made of after a
        -- rotation: nullable fields at the end of the tuple, which a session without them does not
        -- carry (no byte added, no tuple rewritten). Sessions that have a ttl or an end are also
        -- kept by the second they are gone, for the sweep (sessions.deadlines); the keys sessions
        -- had before a rotation point to their current one (sessions.aliases).
        name = 'per-session ttl, lifetime and rotation',
        up = function()
            local s = space.get()
            local format = s:format()
            format[space.F.ttl] = {name = 'ttl', type = 'unsigned', is_nullable = true}
            format[space.F.ends] = {name = 'ends', type = 'unsigned', is_nullable = true}
            format[space.F.origin] = {name = 'origin', type = 'uuid', is_nullable = true}
            s:format(format)
            local deadlines = box.schema.space.create(space.DEADLINES, {
                format = {{name = 'key', type = 'uuid'}, {name = 'at', type = 'unsigned'}},
            })
            deadlines:create_index('primary', {type = 'HASH', parts = {'key'}})
            deadlines:create_index('at', {type = 'TREE', parts = {'at', 'key'}})
            local aliases = box.schema.space.create(space.ALIASES, {
                format = {
                    {name = 'key', type = 'uuid'},         -- the key before the rotation
                    {name = 'target', type = 'uuid'},      -- the key the session has now
                    {name = 'until', type = 'unsigned'},   -- the old token works before this second (0: no more)
                    {name = 'origin', type = 'boolean'},   -- whether the key is the one the id is made of
                },
            })
            aliases:create_index('primary', {type = 'HASH', parts = {'key'}})
            aliases:create_index('until', {type = 'TREE', parts = {'until', 'key'}})
        end,
    },
    {
        -- A use of a session within the window of its stored activity is written here, in a
        -- space with one hash index, instead of moving the session in its three tree indexes
        -- (sessions.activity). Existing sessions need no row: their field holds their activity.
        name = 'a space for the newest use of sessions within their activity window',
        up = function()
            local seen = box.schema.space.create(space.SEEN, {
                format = {{name = 'key', type = 'uuid'}, {name = 'second', type = 'unsigned'}},
            })
            seen:create_index('primary', {type = 'HASH', parts = {'key'}})
        end,
    },
    {
        -- Session events (sessions.events), numbered by a sequence that is replicated and
        -- recovered with the data, so that ids go on after a restart or a failover; by user too,
        -- for a user's history. And the second a rotation's `rotated` event is due, on the
        -- aliases of rotations with a grace (sessions.aliases): a new nullable field, which no
        -- existing row carries, and its index. Building an index of a filled space yields: this
        -- step runs outside a transaction and is idempotent.
        name = 'session events, and the rotated events due at the end of a grace',
        atomic = false,
        up = function()
            box.schema.sequence.create(space.EVENTS_SEQUENCE, {if_not_exists = true})
            local events = box.schema.space.create(space.EVENTS, {
                if_not_exists = true,
                format = {
                    {name = 'seq', type = 'unsigned'},
                    {name = 'time', type = 'unsigned'},     -- unix milliseconds
                    {name = 'type', type = 'string'},
                    {name = 'user_id', type = 'unsigned'},
                    {name = 'key', type = 'uuid'},          -- the key the session's id is made of
                    {name = 'ip', type = 'scalar'},         -- as the sessions space stores it
                    {name = 'reason', type = 'string', is_nullable = true},
                },
            })
            events:create_index('primary', {
                type = 'TREE', parts = {'seq'}, sequence = space.EVENTS_SEQUENCE, if_not_exists = true,
            })
            events:create_index('user_id', {type = 'TREE', parts = {'user_id', 'seq'}, if_not_exists = true})
            local aliases = space.aliases()
            local format = aliases:format()
            -- After key, target, until and origin.
            format[5] = {name = 'announce', type = 'unsigned', is_nullable = true}
            aliases:format(format)
            aliases:create_index('announce', {
                type = 'TREE', parts = {{'announce', 'unsigned', is_nullable = true}, {'key', 'uuid'}},
                if_not_exists = true,
            })
        end,
    },
}

local M = {}

-- The schema version this instance has applied (0 on an empty one).
function M.version()
    local t = box.space._schema:get(VERSION_KEY)
    return t and t[2] or 0
end

-- Applies the steps not applied yet, each atomically with its version bump, up to `target`
-- (default: all). Master only.
function M.apply(target)
    for v = M.version() + 1, target or #steps do
        log.info('sessions: migration %d: %s', v, steps[v].name)
        -- A step that rebuilds indexes on a filled space yields and cannot run in a transaction:
        -- it is marked atomic = false and written to be idempotent, since a crash between it and
        -- the version bump runs it again.
        if steps[v].atomic == false then
            steps[v].up()
            box.space._schema:replace{VERSION_KEY, v}
        else
            box.atomic(function()
                steps[v].up()
                box.space._schema:replace{VERSION_KEY, v}
            end)
        end
    end
end

return M

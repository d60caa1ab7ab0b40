-- Schema migrations: an ordered, append-only list. The applied version is kept in _schema.
-- Never edit or reorder a step that has shipped; add a new one.
local log = require('log')
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
}

local M = {}

-- The schema version this instance has applied (0 on an empty one).
function M.version()
    local t = box.space._schema:get(VERSION_KEY)
    return t and t[2] or 0
end

-- Applies the steps not applied yet, each atomically with its version bump. Master only.
function M.apply()
    for v = M.version() + 1, #steps do
        log.info('sessions: migration %d: %s', v, steps[v].name)
        -- A step that must rebuild indexes on a filled space yields and cannot run in a
        -- transaction: such a step must be written to be idempotent instead.
        box.atomic(function()
            steps[v].up()
            box.space._schema:replace{VERSION_KEY, v}
        end)
    end
end

return M

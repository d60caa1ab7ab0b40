-- The sessions application: schema, access, public API, and the activity and expiry fibers.
local log = require('log')
local migrations = require('sessions.migrations')
local access = require('sessions.access')
local activity = require('sessions.activity')
local api = require('sessions.api')
local expiry = require('sessions.expiry')
local ipv4_upgrade = require('sessions.ipv4_upgrade')
local token_hashing = require('sessions.token_hashing')
local settings = require('sessions.settings')
local triggers = require('sessions.triggers')

local M = {}

-- Prepares the instance and starts serving; safe to call again after a code reload.
function M.start(opts)
    if box.info.ro then
        log.info('sessions: read-only instance, schema and access left to the master')
    else
        migrations.apply()
        access.setup(opts.user, opts.password, api)
    end
    -- Procedures are resolved by name through this one global table.
    rawset(_G, api.NAMESPACE, api.procedures)
    -- Before any write of this instance: what follows a session's writes (sessions.triggers).
    if box.space.sessions ~= nil then triggers.install() end
    settings.watch()
    activity.start()
    expiry.start()
    ipv4_upgrade.start()
    token_hashing.start()
    log.info('sessions: ready, schema version %d', migrations.version())
end

return M

-- The sessions application: schema, access, public API, and the background work of the writable
-- member (activity writer, expiry sweep, events' retention, conversions), which follows the
-- member's role.
local log = require('log')
local migrations = require('sessions.migrations')
local access = require('sessions.access')
local activity = require('sessions.activity')
local api = require('sessions.api')
local conversions = require('sessions.conversions')
local events = require('sessions.events')
local expiry = require('sessions.expiry')
local ipv4_upgrade = require('sessions.ipv4_upgrade')
local replication = require('sessions.replication')
local role = require('sessions.role')
local switchover = require('sessions.switchover')
local token_hashing = require('sessions.token_hashing')
local settings = require('sessions.settings')
local space = require('sessions.space')
local triggers = require('sessions.triggers')

local M = {}

-- Whether start() has run: for tools that wait until the instance is up (scripts/cluster.ts).
M.started = false

-- Defines the procedures (the global tables they are resolved through by name). Needs no box.cfg:
-- init.lua calls it before, so that no client ever meets an undefined procedure.
function M.expose()
    rawset(_G, api.NAMESPACE, api.procedures)
    rawset(_G, switchover.NAMESPACE, switchover.procedures)
end

-- What follows a session's writes (sessions.triggers), before any write of this member, and on a
-- read-only member the commits of events (sessions.events), once the spaces exist: on a replica
-- they arrive by replication.
local function follow_writes()
    local s = box.space.sessions
    if s ~= nil and #s:on_replace() == 0 then triggers.install() end
    if box.info.ro then events.follow() end
end

-- Runs when the member becomes writable: the pending migrations (a member promoted with newer
-- code applies its own), access (procedures added by newer code), then the background work.
local function writable(opts)
    migrations.apply()
    -- With replication, a write to these is acknowledged once a quorum of the members has it.
    local synchronous = {space.NAME, space.DEADLINES, space.ALIASES, space.SEEN, space.EVENTS}
    replication.sync_spaces(synchronous, opts.replication ~= nil)
    -- Before the service user may call anything.
    follow_writes()
    events.lead()
    access.setup(opts)
    activity.start()
    expiry.start()
    events.start()
    conversions.start{ipv4_upgrade.conversion, token_hashing.conversion}
end

local function read_only()
    activity.stop()
    expiry.stop()
    events.stop()
    conversions.stop()
end

-- Prepares the instance and starts serving; safe to call again after a code reload. opts: user,
-- password (the service user), replication_password (with TARANTOOL_REPLICATION).
function M.start(opts)
    local setup = {user = opts.user, password = opts.password, api = api}
    if opts.replication_password ~= nil then
        setup.replication = {user = replication.USER, password = opts.replication_password, api = switchover}
    end
    M.expose()
    if setup.replication == nil then replication.claim_queue_alone() end
    follow_writes()
    settings.watch()
    if box.info.ro then
        log.info('sessions: read-only member, schema and access left to the writable one')
    end
    role.start{
        writable = function() writable(setup) end,
        read_only = read_only,
        idle = follow_writes,
    }
    M.started = true
    log.info('sessions: ready, schema version %d', migrations.version())
end

return M

-- Least privilege: the service user may execute the registered procedures and nothing else; the
-- replication user of a replica set has the role 'replication' and may execute the procedures
-- members call on each other (sessions.switchover), nothing else.
local log = require('log')

local M = {}

-- Sets the password of `user` unless it is that already: no row is written (and replicated) when
-- nothing changes, as at every start and every promotion.
local function set_password(user, password)
    local row = box.space._user.index.name:get(user)
    local auth = row and row[5]
    if auth ~= nil and auth['chap-sha1'] == box.schema.user.password(password) then return end
    box.schema.user.passwd(user, password)
end

-- A user that may connect, and nothing more: every user gets the 'public' role, which on 2.x may
-- execute the built-in function LUA (any Lua code, as admin) among others. None of ours needs it.
local function create_user(user, password)
    box.schema.user.create(user, {if_not_exists = true})
    -- Set on every start, so rotating the password is a restart with the new value.
    set_password(user, password)
    box.schema.user.revoke(user, 'execute', 'role', 'public', {if_exists = true})
end

-- Registers the procedures of `api` ({NAMESPACE, procedures}) and lets `user` execute them.
local function grant_procedures(user, api)
    for name in pairs(api.procedures) do
        local func = api.NAMESPACE .. '.' .. name
        -- setuid: procedures run with the owner's rights, so the user needs none on the space.
        box.schema.func.create(func, {setuid = true, if_not_exists = true})
        box.schema.user.grant(user, 'execute', 'function', func, {if_not_exists = true})
    end
end

-- Creates (or updates) the service user, registers the procedures and grants execute on them;
-- with `opts.replication` ({user, password, api}), the replication user too. In one transaction,
-- so that a client (or a replica) sees all of it or none. Writable member only.
function M.setup(opts)
    box.atomic(function()
        create_user(opts.user, opts.password)
        grant_procedures(opts.user, opts.api)
        local replication = opts.replication
        if replication ~= nil then
            create_user(replication.user, replication.password)
            box.schema.user.grant(replication.user, 'replication', nil, nil, {if_not_exists = true})
            grant_procedures(replication.user, replication.api)
        end
        -- No anonymous access: guest may connect only to authenticate.
        box.schema.user.revoke('guest', 'usage,session', 'universe', nil, {if_exists = true})
    end)
    log.info('sessions: user %q may execute %s.* only', opts.user, opts.api.NAMESPACE)
end

return M

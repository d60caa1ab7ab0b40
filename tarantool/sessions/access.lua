-- Least privilege: the service user may execute the registered procedures and nothing else.
local log = require('log')

local M = {}

-- Creates (or updates) the service user, registers the procedures and grants execute on them.
function M.setup(user, password, api)
    box.schema.user.create(user, {if_not_exists = true})
    -- Set on every start, so rotating the password is a restart with the new value.
    box.schema.user.passwd(user, password)
    -- Every user gets the 'public' role, which on 2.x may execute the built-in function LUA
    -- (any Lua code, as admin) among others. The service user needs none of it.
    box.schema.user.revoke(user, 'execute', 'role', 'public', {if_exists = true})
    for name in pairs(api.procedures) do
        local func = api.NAMESPACE .. '.' .. name
        -- setuid: procedures run with the owner's rights, so the user needs none on the space.
        box.schema.func.create(func, {setuid = true, if_not_exists = true})
        box.schema.user.grant(user, 'execute', 'function', func, {if_not_exists = true})
    end
    -- No anonymous access: guest may connect only to authenticate.
    box.schema.user.revoke('guest', 'usage,session', 'universe', nil, {if_exists = true})
    log.info('sessions: user %q may execute %s.* only', user, api.NAMESPACE)
end

return M

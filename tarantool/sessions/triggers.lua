-- What follows every write to the sessions space, in the writer's transaction, whoever writes
-- (a procedure, a fiber, the admin console): the rows of sessions.deadlines, sessions.aliases and
-- sessions_seen (sessions.activity).
-- Writes that arrive by replication carry those rows already, and a read-only instance writes none.
local activity = require('sessions.activity')
local aliases = require('sessions.aliases')
local deadlines = require('sessions.deadlines')
local space = require('sessions.space')

local M = {}

-- The seed's kind of session has 6 fields or fewer: only its deletion has a row to follow it.
local function follow(old, new)
    local small = (old == nil or #old <= 6) and (new == nil or #new <= 6)
    if small and new ~= nil then return end
    if box.session.type() == 'applier' then return end
    activity.on_replace(old, new)
    if small then return end
    deadlines.on_replace(old, new)
    aliases.on_replace(old, new)
end

-- Installs the trigger, in place of any of an earlier load of this code (the space is ours: no
-- other code sets triggers on it).
function M.install()
    local s = space.get()
    for _, old in ipairs(s:on_replace()) do s:on_replace(nil, old) end
    s:on_replace(follow)
end

return M

-- Background fibers by name: one of each, even when the code is loaded again.
local fiber = require('fiber')
local log = require('log')

local M = {}

-- The fibers called `name`.
local function named(name)
    local found = {}
    for fid, info in pairs(fiber.info({backtrace = false})) do
        if info.name == name then found[#found + 1] = fiber.find(fid) end
    end
    return found
end

-- Whether a fiber called `name` runs.
function M.running(name)
    return #named(name) > 0
end

-- Cancels the fiber called `name`, if there is one.
function M.stop(name)
    for _, f in ipairs(named(name)) do f:cancel() end
end

-- Cancels the fiber called `name`, if there is one, and runs `fn` in a new fiber of that name.
function M.restart(name, fn)
    M.stop(name)
    return fiber.create(function()
        fiber.self():name(name)
        return fn()
    end)
end

-- The loop of a background fiber: work() when due() says so, at once and then every `interval`
-- seconds. A failure is logged when it starts and when it ends (`what` names the work), not at
-- every retry.
function M.every(interval, due, work, what)
    local failing = false
    while true do
        fiber.testcancel()
        if due() then
            local ok, err = pcall(work)
            fiber.testcancel()
            if not ok and not failing then
                log.error('sessions: %s failed, retrying every %s s: %s', what, interval, err)
            elseif ok and failing then
                log.info('sessions: %s works again', what)
            end
            failing = not ok
        end
        fiber.sleep(interval)
    end
end

return M

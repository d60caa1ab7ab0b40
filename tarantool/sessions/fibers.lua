-- Background fibers by name: one of each, even when the code is loaded again.
local fiber = require('fiber')

local M = {}

-- Cancels the fiber called `name`, if there is one, and runs `fn` in a new fiber of that name.
function M.restart(name, fn)
    for fid, info in pairs(fiber.info({backtrace = false})) do
        if info.name == name then
            fiber.find(fid):cancel()
        end
    end
    return fiber.create(function()
        fiber.self():name(name)
        return fn()
    end)
end

return M

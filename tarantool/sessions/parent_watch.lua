-- Ends an embedded instance whose supervising process is gone, so that no orphan keeps the port
-- and the data directory locked. Used when TARANTOOL_PARENT_PID is set (by `npm start`).
local ffi = require('ffi')
local fiber = require('fiber')
local log = require('log')

ffi.cdef('int getppid(void);')

local M = {}

-- Watches, once a second, that the parent is still `parent_pid`; exits cleanly when it is not.
function M.start(parent_pid)
    fiber.create(function()
        fiber.self():name('sessions.parent_watch')
        while ffi.C.getppid() == parent_pid do
            fiber.sleep(1)
        end
        log.warn('sessions: parent process %d is gone, shutting down', parent_pid)
        os.exit(0)
    end)
end

return M

-- The data directory closed to other users: the directory 0700 and the files in it 0600, whatever
-- mode they were made with (a directory created by hand, or data written before the umask was set).
local fio = require('fio')
local log = require('log')

local M = {}

local DIR_MODE = tonumber('700', 8)
local FILE_MODE = tonumber('600', 8)

-- Sets the modes of `dir` and of the regular files directly in it (Tarantool keeps no
-- subdirectories for memtx); one it cannot change (another owner) is logged, and the start goes on.
function M.close_to_others(dir)
    local function restrict(path, mode)
        local stat = fio.stat(path)
        if stat == nil or bit.band(stat.mode, tonumber('777', 8)) == mode then return end
        if not fio.chmod(path, mode) then
            log.warn('sessions: could not make %s mode %o (it is %o): other users may read it',
                path, mode, bit.band(stat.mode, tonumber('777', 8)))
        end
    end
    restrict(dir, DIR_MODE)
    for _, name in ipairs(fio.listdir(dir) or {}) do
        local path = fio.pathjoin(dir, name)
        local stat = fio.lstat(path)
        if stat ~= nil and stat:is_reg() then restrict(path, FILE_MODE) end
    end
end

return M

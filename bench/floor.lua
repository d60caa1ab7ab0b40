-- The floor's Tarantool: one procedure that answers a session-sized tuple and does nothing else.
-- Arguments: port, work_dir, password of the user `floor`, and the pid of the process it ends with.
local port, work_dir, password, parent_pid = arg[1], arg[2], arg[3], tonumber(arg[4])
local here = require('fio').dirname(require('fio').abspath(arg[0]))
package.path = here .. '/../tarantool/?.lua;' .. package.path

box.cfg{work_dir = work_dir, log_level = 2, wal_mode = 'none'}
local tuple = box.tuple.new{require('uuid').new(), 1000000, 167772161, 1700000000, 1700000000}
rawset(_G, 'floor_get', function() return tuple end)
box.schema.func.create('floor_get', {if_not_exists = true})
box.schema.user.create('floor', {password = password, if_not_exists = true})
box.schema.user.grant('floor', 'execute', 'function', 'floor_get', {if_not_exists = true})
require('sessions.parent_watch').start(parent_pid)
box.cfg{listen = '127.0.0.1:' .. port}

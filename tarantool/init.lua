#!/usr/bin/env tarantool
-- Boots a sessions instance: box.cfg from the environment, then the app.
-- Variable names follow the official tarantool image where it has one.
local fio = require('fio')
local log = require('log')

local here = fio.dirname(fio.abspath(debug.getinfo(1, 'S').source:sub(2)))
package.path = here .. '/?.lua;' .. here .. '/?/init.lua;' .. package.path

local function env(name, default)
    local value = os.getenv(name)
    if value == nil or value == '' then return default end
    return value
end

local password = env('TARANTOOL_USER_PASSWORD')
if password == nil then
    log.error('TARANTOOL_USER_PASSWORD is required: it is the password of the service user')
    os.exit(1)
end

-- Every file this instance writes is its user's alone: the snapshots and logs hold every token
-- and the secret that session ids and cursors are made with. Tarantool has no umask setting.
local ffi = require('ffi')
pcall(ffi.cdef, 'unsigned int umask(unsigned int mask);')
ffi.C.umask(tonumber('077', 8))

local work_dir = env('TARANTOOL_WORK_DIR', '.')
fio.mktree(work_dir)
if env('TARANTOOL_WORK_DIR') ~= nil then
    -- Also a directory made before, with a looser mode, and the files already in it (not the
    -- current directory, when none is named: that may be anything).
    require('sessions.files').close_to_others(work_dir)
end

local ok, replication = pcall(require('sessions.replication').config, env, work_dir)
if not ok then
    log.error('sessions: %s', replication)
    os.exit(1)
end
local listen = env('TARANTOOL_PORT', '3301')
local sessions = require('sessions')
-- The procedures exist before any client can call: a connection that comes during box.cfg or
-- the set-up finds them defined (sessions.start tells what it may still miss).
sessions.expose()

local cfg = {
    work_dir = work_dir,
    -- The pid file is locked: a second instance on the same data refuses to start.
    pid_file = 'tarantool.pid',
    memtx_memory = tonumber(env('TARANTOOL_MEMTX_MEMORY', 256 * 1024 * 1024)),
    wal_mode = env('TARANTOOL_WAL_MODE', 'write'),
    checkpoint_interval = tonumber(env('TARANTOOL_CHECKPOINT_INTERVAL', 3600)),
    log_level = tonumber(env('TARANTOOL_LOG_LEVEL', 5)),
}
if replication ~= nil then
    -- Members reach each other during box.cfg to bootstrap or rejoin the set: the port must be
    -- open from the start.
    for name, value in pairs(replication) do cfg[name] = value end
    cfg.listen = listen
end
box.cfg(cfg)

local console_socket = env('TARANTOOL_CONSOLE_SOCKET')
if console_socket ~= nil then
    -- Admin console on a unix socket only: never on the network.
    require('console').listen('unix/:' .. console_socket)
    -- Owner only, whatever the umask: the console runs any Lua as admin.
    fio.chmod(console_socket, tonumber('600', 8))
end

sessions.start{
    user = env('TARANTOOL_USER_NAME', 'sessions'),
    password = password,
    replication_password = replication and env('TARANTOOL_REPLICATION_PASSWORD'),
}

local parent_pid = tonumber(env('TARANTOOL_PARENT_PID'))
if parent_pid ~= nil then
    require('sessions.parent_watch').start(parent_pid)
end

if replication == nil then
    -- Listen only now: an open port means the procedures are there to call.
    box.cfg{listen = listen}
end

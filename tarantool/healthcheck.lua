#!/usr/bin/env tarantool
-- Container healthcheck: exits 0 when the instance on TARANTOOL_PORT sends its greeting.
-- An instance listens only once its procedures are registered, so a greeting means ready.
local socket = require('socket')

local listen = os.getenv('TARANTOOL_PORT') or '3301'
local host, port = listen:match('^(.+):(%d+)$')
local conn = socket.tcp_connect(host or '127.0.0.1', port or listen, 1)
local greeting = conn and conn:read(64, 1)
os.exit(greeting ~= nil and greeting:find('^Tarantool') ~= nil and 0 or 1)

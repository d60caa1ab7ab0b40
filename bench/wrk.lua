-- The bench's requests under wrk (wrk.ts): wrk -t1 -s bench/wrk.lua <url> -- <template> [args...]
--   <path with %s>  file...            each request: the path, each %s a random line of its file
--                                      (in order), e.g. /new?user_id=%s&ip=%s users ips
--   mixed           next tokens users ips   90% /get of a token below `next` (lines 1..next),
--                                      8% /new, 2% /del of line `next`, which then goes down by one
--                                      (as workloads.ts's mixed generator); done() reports `next`.
-- done() prints one line, `wrk-json {...}`: requests, duration (µs), p50 and p99 of the latency
-- (µs, exact from wrk's histogram), errors by kind, and the CPU ticks wrk spent after its threads
-- had loaded their files (read from /proc/self/stat in each thread's init, then in done()).
-- Globals, for done() to read from the thread (thread:get): `nexts`, `ready_ticks`.
local template, lists = nil, {}
nexts = nil
local threads = {}

local function ticks ()
  local f = io.open('/proc/self/stat', 'r')
  if f == nil then return -1 end
  local stat = f:read('*a')
  f:close()
  local fields = {}
  for field in stat:sub(stat:find(')', 1, true) + 2):gmatch('%S+') do fields[#fields + 1] = field end
  -- utime and stime: the 14th and 15th fields, the 12th and 13th after the name.
  return tonumber(fields[12]) + tonumber(fields[13])
end

local function load (file)
  local out = {}
  for line in io.lines(file) do out[#out + 1] = line end
  if #out == 0 then error('wrk.lua: ' .. file .. ' is empty') end
  return out
end

function setup (thread)
  threads[#threads + 1] = thread
end

function init (args)
  -- wrk's Lua starts every run from the same seed: each round would send the same requests.
  local urandom = io.open('/dev/urandom', 'rb')
  if urandom ~= nil then
    local b = urandom:read(4)
    urandom:close()
    math.randomseed(((b:byte(1) * 256 + b:byte(2)) * 256 + b:byte(3)) * 256 + b:byte(4))
  end
  template = args[1]
  local first = 2
  if template == 'mixed' then
    nexts = tonumber(args[2])
    first = 3
  end
  for i = first, #args do lists[#lists + 1] = load(args[i]) end
  ready_ticks = ticks()
end

local function pick (list, n)
  return list[math.random(n or #list)]
end

function request ()
  if nexts ~= nil then
    local tokens, users, ips = lists[1], lists[2], lists[3]
    local dice = math.random()
    if dice < 0.9 then return wrk.format(nil, '/get?token=' .. pick(tokens, math.max(nexts, 1))) end
    if dice < 0.98 then return wrk.format(nil, '/new?user_id=' .. pick(users) .. '&ip=' .. pick(ips)) end
    local token = tokens[math.max(nexts, 1)]
    nexts = nexts - 1
    return wrk.format(nil, '/del?token=' .. token)
  end
  if #lists == 0 then return wrk.format(nil, template) end
  if #lists == 1 then return wrk.format(nil, string.format(template, pick(lists[1]))) end
  local values = {}
  for i = 1, #lists do values[i] = pick(lists[i]) end
  return wrk.format(nil, string.format(template, unpack(values)))
end

function done (summary, latency, requests)
  local ready, next_left = 0, -1
  for _, thread in ipairs(threads) do
    ready = math.max(ready, thread:get('ready_ticks') or 0)
    local n = thread:get('nexts')
    if n ~= nil then next_left = n end
  end
  local e = summary.errors
  io.write(string.format('wrk-json {"requests":%.0f,"duration_us":%.0f,"p50_us":%.1f,"p99_us":%.1f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},"cpu_ticks":%.0f,"next":%.0f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, ticks() - ready, next_left))
end

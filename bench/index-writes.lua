-- The cost of an activity write under two index layouts of the sessions space (memtx).
--
-- Run:  tarantool bench/index-writes.lua [--tuples N] [--rounds R] [--budget S] [--modes none,write]
--       (defaults: 1,000,000 tuples, 15 rounds, 540 s at most, both WAL modes; 2.5 to 6 minutes here)
--
-- It starts one Tarantool per WAL mode (wal_mode='none', then 'write'), one after the other, each
-- in a temporary directory (fio.tempdir(): /tmp unless TMPDIR says otherwise), memtx_memory 2 GiB,
-- listening nowhere, and removes the directory afterwards. Each instance holds two spaces of the
-- same N tuples {token uuid, user_id, ip (IPv4 number), create, activity} (user_id of 100,000
-- users, ip of 200,000 addresses, activity in the last 180 days, create <= activity):
--   A (today):    primary HASH {token}; TREE user_id {user_id}, ip {ip}, activity {activity},
--                 non-unique (memtx appends the primary key to their comparisons);
--   B (proposed): primary HASH {token}; TREE user_activity {user_id, activity, token},
--                 ip_activity {ip, activity, token}, activity {activity, token}, unique.
-- In rounds, A and B alternately (A B, B A, A B...: who goes first swaps each round; both see the
-- same random tokens in a round, read once before each layout's turn so both find them warm), it
-- measures in µs per operation (wall time, clock.monotonic; and the tx thread's CPU, clock.thread,
-- which leaves out the wait on the WAL thread):
--   the activity write space:update(token, {{'=', 5, now}}) of random existing tokens, in
--   transactions of 100 (box.atomic, as the service's flusher writes them) and one by one;
--   an insert of a new session (activity = create = now) and a delete of a random one, one by one
--   (as many deletes as inserts: the spaces stay at N tuples).
-- Memory, per layout, when its space is built: box.slab.info() arena_used and items_used, each
-- index's bsize(), all per tuple. Then two checks on the full space A: a key of more parts than a
-- non-unique index's definition; index:alter({parts = ...}) (a rebuild) in box.atomic and outside,
-- with its time.
-- It prints a table: per WAL mode and operation, the median and [min..max] over the rounds for A
-- and B, and of the per-round ratio B/A. Read the ratios: the machine is shared and noisy.
--
-- fiber.clock() is not used for the timings: it is the event loop's time, read once per loop
-- iteration, and does not move while a fiber runs without yielding (a whole wal_mode='none' round).
--
-- Bounded: each instance stops its rounds early (and says so) when the next one would overrun its
-- share of --budget, and is killed 90 s past it.

local fio = require('fio')
local json = require('json')
local clock = require('clock')
local fiber = require('fiber')

local DAY = 86400
local USERS, IPS = 100000, 200000
local UPDATE_BATCH = 100
-- Operations per layout per round, at 1,000,000 tuples (scaled down for fewer tuples).
local PER_ROUND = {batched = 50000, single = 20000, insert = 10000}

local function fail(msg)
    io.stderr:write('index-writes: ', msg, '\n')
    os.exit(1)
end

local function parse_args()
    local o = {tuples = 1000000, rounds = 15, budget = 540, modes = {'none', 'write'}}
    local i = 1
    while arg[i] ~= nil do
        local a, v = arg[i], arg[i + 1]
        if a == '--child' then
            o.child = {mode = v, dir = arg[i + 2], deadline = tonumber(arg[i + 3])}
            i = i + 4
        elseif a == '--tuples' or a == '--rounds' or a == '--budget' then
            local n = tonumber(v)
            if n == nil or n < 1 then fail(a .. ' wants a positive number') end
            o[a:sub(3)] = math.floor(n)
            i = i + 2
        elseif a == '--modes' then
            o.modes = {}
            for m in tostring(v):gmatch('[^,]+') do
                if m ~= 'none' and m ~= 'write' then fail('--modes: none and/or write') end
                o.modes[#o.modes + 1] = m
            end
            i = i + 2
        else
            fail('unknown argument ' .. tostring(a) ..
                 '; usage: tarantool bench/index-writes.lua [--tuples N] [--rounds R] [--budget S] [--modes none,write]')
        end
    end
    if o.tuples < 10000 then fail('--tuples: at least 10000') end
    return o
end

-- Statistics ----------------------------------------------------------------------------------

local function sorted(xs)
    local c = {}
    for i, x in ipairs(xs) do c[i] = x end
    table.sort(c)
    return c
end

local function median(xs)
    local c = sorted(xs)
    local n = #c
    if n == 0 then return nil end
    if n % 2 == 1 then return c[(n + 1) / 2] end
    return (c[n / 2] + c[n / 2 + 1]) / 2
end

local function spread(xs)
    local c = sorted(xs)
    return c[1], c[#c]
end

-- The instance (child) ------------------------------------------------------------------------

local LAYOUTS = {
    A = {
        space = 'sessions_a',
        indexes = {
            {'user_id', {type = 'TREE', unique = false, parts = {'user_id'}}},
            {'ip', {type = 'TREE', unique = false, parts = {'ip'}}},
            {'activity', {type = 'TREE', unique = false, parts = {'activity'}}},
        },
    },
    B = {
        space = 'sessions_b',
        indexes = {
            {'user_activity', {type = 'TREE', unique = true, parts = {'user_id', 'activity', 'token'}}},
            {'ip_activity', {type = 'TREE', unique = true, parts = {'ip', 'activity', 'token'}}},
            {'activity', {type = 'TREE', unique = true, parts = {'activity', 'token'}}},
        },
    },
}
local ORDER = {'A', 'B'}
local PHASES = {
    {key = 'batched', label = 'update, txns of 100'},
    {key = 'single', label = 'update, one by one'},
    {key = 'insert', label = 'insert, one by one'},
    {key = 'delete', label = 'delete, one by one'},
}

local FORMAT = {
    {name = 'token', type = 'uuid'},
    {name = 'user_id', type = 'unsigned'},
    {name = 'ip', type = 'scalar'},
    {name = 'create', type = 'unsigned'},
    {name = 'activity', type = 'unsigned'},
}

local function progress(fmt, ...)
    io.stderr:write(string.format('index-writes: ' .. fmt, ...), '\n')
end

local function slab()
    local s = box.slab.info()
    return {arena_used = s.arena_used, items_used = s.items_used}
end

local function run_child(o)
    local uuid = require('uuid')
    local mode, N = o.child.mode, o.tuples
    local t_start = clock.monotonic()
    local deadline_mono = t_start + (o.child.deadline - clock.realtime())
    box.cfg{
        work_dir = o.child.dir,
        wal_mode = mode,
        memtx_memory = 2 * 1024 * 1024 * 1024,
        checkpoint_interval = 0,   -- no snapshot in the middle of a round
        log = fio.pathjoin(o.child.dir, 'tarantool.log'),
        log_level = 4,
    }
    local scale = N / 1000000
    local per_round = {}
    for k, v in pairs(PER_ROUND) do per_round[k] = math.max(100, math.floor(v * scale / 100) * 100) end
    per_round.delete = per_round.insert

    local now0 = math.floor(fiber.time())
    local ip_pool, seen = {}, {}
    math.randomseed(1)
    while #ip_pool < IPS do
        local ip = math.random(0x01000000, 0xDFFFFFFF)
        if not seen[ip] then seen[ip] = true; ip_pool[#ip_pool + 1] = ip end
    end
    seen = nil
    local tokens = {}
    for i = 1, N do tokens[i] = uuid.new() end

    -- A session as the generator makes it: the same sequence for both spaces (same seed).
    local function session(token)
        local activity = now0 - math.random(0, 180 * DAY - 1)
        local create = activity - math.random(0, activity - (now0 - 180 * DAY))
        return {token, math.random(1, USERS), ip_pool[math.random(1, IPS)], create, activity}
    end

    local spaces, memory = {}, {}
    for _, name in ipairs(ORDER) do
        local L = LAYOUTS[name]
        collectgarbage('collect')
        local before = slab()
        local t0 = clock.monotonic()
        local s = box.schema.space.create(L.space, {format = FORMAT})
        s:create_index('primary', {type = 'HASH', parts = {'token'}})
        for _, ix in ipairs(L.indexes) do s:create_index(ix[1], ix[2]) end
        math.randomseed(2)
        for b = 0, N / 1000 - 1 do
            box.atomic(function()
                for i = b * 1000 + 1, math.min(N, b * 1000 + 1000) do s:insert(session(tokens[i])) end
            end)
        end
        for i = math.floor(N / 1000) * 1000 + 1, N do s:insert(session(tokens[i])) end
        local after = slab()
        local m = {
            build_s = clock.monotonic() - t0,
            arena_used = after.arena_used - before.arena_used,
            items_used = after.items_used - before.items_used,
            space_bsize = s:bsize(),
            indexes = {},
        }
        for i = 0, #L.indexes do
            local ix = s.index[i]
            m.indexes[#m.indexes + 1] = {name = ix.name, bsize = ix:bsize()}
        end
        memory[name] = m
        spaces[name] = s
        progress('%s: built %s (%d tuples) in %.1f s', mode, name, s:len(), m.build_s)
    end

    -- One round's keys, the same for both layouts.
    local function plan()
        local p = {update = {}, new = {}, del = {}}
        local n_upd = per_round.batched + per_round.single
        for i = 1, n_upd do p.update[i] = tokens[math.random(1, N)] end
        local now = math.floor(fiber.time())
        for i = 1, per_round.insert do
            p.new[i] = {uuid.new(), math.random(1, USERS), ip_pool[math.random(1, IPS)], now, now}
        end
        local chosen = {}
        while #p.del < per_round.delete do
            local i = math.random(1, N)
            if not chosen[i] then chosen[i] = true; p.del[#p.del + 1] = i end
        end
        return p
    end

    local function update_batch(s, keys, from, to, ops)
        for j = from, to do s:update(keys[j], ops) end
    end

    local function timed(fn)
        collectgarbage('collect')
        local c0, w0 = clock.thread(), clock.monotonic()
        local ops = fn()
        local wall, cpu = clock.monotonic() - w0, clock.thread() - c0
        return {us = wall * 1e6 / ops, cpu_us = cpu * 1e6 / ops, ops = ops}
    end

    -- Reads the round's keys and new tuples: the Lua side is as warm for the second layout as for
    -- the first.
    local function touch(p)
        local x = 0
        for j = 1, #p.update do x = x + p.update[j].time_low end
        for j = 1, #p.new do x = x + p.new[j][2] + p.new[j][1].time_low end
        for j = 1, #p.del do x = x + tokens[p.del[j]].time_low end
        return x
    end

    local function run_layout(s, p)
        touch(p)
        local r = {}
        local nb = per_round.batched
        r.batched = timed(function()
            for from = 1, nb, UPDATE_BATCH do
                local ops = {{'=', 5, math.floor(fiber.time())}}
                box.atomic(update_batch, s, p.update, from, math.min(nb, from + UPDATE_BATCH - 1), ops)
            end
            return nb
        end)
        r.single = timed(function()
            local ops
            for j = nb + 1, nb + per_round.single do
                if j % 100 == 1 or ops == nil then ops = {{'=', 5, math.floor(fiber.time())}} end
                s:update(p.update[j], ops)
            end
            return per_round.single
        end)
        r.insert = timed(function()
            for j = 1, #p.new do s:insert(p.new[j]) end
            return #p.new
        end)
        r.delete = timed(function()
            for j = 1, #p.del do s:delete(tokens[p.del[j]]) end
            return #p.del
        end)
        return r
    end

    local function commit_plan(p)
        -- The deleted sessions' places in `tokens` go to the new ones: both spaces hold these.
        for j = 1, #p.del do tokens[p.del[j]] = p.new[j][1] end
    end

    -- Warm-up (not measured): a round of each at a tenth of the size.
    do
        local saved = {}
        for k, v in pairs(per_round) do saved[k] = v; per_round[k] = math.max(100, math.floor(v / 1000) * 100) end
        local p = plan()
        for _, name in ipairs(ORDER) do run_layout(spaces[name], p) end
        commit_plan(p)
        per_round = saved
    end

    -- Rounds, as long as the next one fits in this instance's share of the budget (the checks
    -- after them take about 4 index builds).
    local reserve = 4 * (memory.A.build_s / 3) + 5
    local rounds, longest = {}, 0
    local stopped_early = false
    for r = 1, o.rounds do
        if r > 1 and clock.monotonic() + longest + reserve > deadline_mono then
            stopped_early = true
            break
        end
        local t0 = clock.monotonic()
        local p = plan()
        local round = {}
        for k = 1, #ORDER do
            local name = ORDER[r % 2 == 1 and k or #ORDER + 1 - k]
            round[name] = run_layout(spaces[name], p)
            fiber.sleep(0)
        end
        commit_plan(p)
        rounds[#rounds + 1] = round
        longest = math.max(longest, clock.monotonic() - t0)
        progress('%s: round %d: update/batched A %.2f B %.2f µs, single A %.2f B %.2f µs (%.1f s)', mode, r,
            round.A.batched.us, round.B.batched.us, round.A.single.us, round.B.single.us, clock.monotonic() - t0)
    end
    for _, name in ipairs(ORDER) do
        assert(spaces[name]:len() == N, 'the space lost or gained tuples')
    end

    -- Checks on space A, full.
    local checks = {}
    local sA = spaces.A
    local some = sA:select({}, {limit = 1})[1]
    local ok, err = pcall(function() return sA.index.user_id:select({some[2], some[5]}, {iterator = 'GE', limit = 1}) end)
    checks.key_more_parts = {ok = ok, err = not ok and tostring(err) or nil, key = '{user_id, activity} on TREE user_id {user_id}'}
    ok, err = pcall(function() return sA.index.user_id:select({some[2], some[1]}, {iterator = 'GE', limit = 1}) end)
    checks.key_more_parts_pk = {ok = ok, err = not ok and tostring(err) or nil, key = '{user_id, token} on TREE user_id {user_id}'}

    -- A fiber that counts the event loop's turns: whether a rebuild lets other fibers run.
    local turns = 0
    local counter = fiber.new(function()
        while true do turns = turns + 1; fiber.sleep(0) end
    end)
    counter:name('turns')
    local function alter_check(label, fn)
        turns = 0
        collectgarbage('collect')
        local t0 = clock.monotonic()
        local ok, err = pcall(fn)
        local dt = clock.monotonic() - t0
        if box.is_in_txn() then box.rollback() end
        checks.alter = checks.alter or {}
        table.insert(checks.alter, {label = label, ok = ok, err = not ok and tostring(err) or nil,
            seconds = dt, other_fiber_turns = turns})
    end
    local to_B = {
        user_id = {parts = {'user_id', 'activity', 'token'}, unique = true},
        ip = {parts = {'ip', 'activity', 'token'}, unique = true},
        activity = {parts = {'activity', 'token'}, unique = true},
    }
    alter_check('user_id and ip to B parts, both in one box.atomic', function()
        box.atomic(function()
            sA.index.user_id:alter(to_B.user_id)
            sA.index.ip:alter(to_B.ip)
        end)
    end)
    checks.after_failed = #sA.index.user_id.parts
    alter_check('user_id to B parts, alone in box.atomic (then a write)', function()
        box.atomic(function()
            sA.index.user_id:alter(to_B.user_id)
            box.space._schema:replace{'index_writes_check', 1}
        end)
    end)
    alter_check('a write, then ip to B parts, in one box.atomic', function()
        box.atomic(function()
            box.space._schema:replace{'index_writes_check', 2}
            sA.index.ip:alter(to_B.ip)
        end)
    end)
    alter_check('ip to B parts, no transaction', function() sA.index.ip:alter(to_B.ip) end)
    alter_check('activity to B parts, no transaction', function() sA.index.activity:alter(to_B.activity) end)
    counter:cancel()
    checks.after_parts = {}
    for i = 0, #LAYOUTS.A.indexes do checks.after_parts[sA.index[i].name] = #sA.index[i].parts end

    local f = fio.open(fio.pathjoin(o.child.dir, 'results.json'), {'O_WRONLY', 'O_CREAT', 'O_TRUNC'}, tonumber('644', 8))
    f:write(json.encode({mode = mode, tuples = N, per_round = per_round, memory = memory, rounds = rounds,
        stopped_early = stopped_early, checks = checks, seconds = clock.monotonic() - t_start}))
    f:close()
    os.exit(0)
end

-- The run (parent) ----------------------------------------------------------------------------

local function fmt_stat(xs, digits)
    if #xs == 0 then return '-' end
    local lo, hi = spread(xs)
    local f = '%.' .. digits .. 'f'
    return string.format(f .. ' [' .. f .. '..' .. f .. ']', median(xs), lo, hi)
end

local function pad(s, n) return s .. string.rep(' ', math.max(0, n - #s)) end

local function report(results)
    local lines = {}
    local function out(s) lines[#lines + 1] = s end
    local N = results[1].tuples
    local desc = {}
    for _, r in ipairs(results) do
        desc[#desc + 1] = string.format('wal_mode=%s %d rounds%s', r.mode, #r.rounds, r.stopped_early and ' (stopped early: budget)' or '')
    end
    out(string.format('index-writes: %d tuples; %s', N, table.concat(desc, ', ')))
    local pr = results[1].per_round
    out(string.format('per layout per round: %d updates in txns of 100, %d single updates, %d inserts, %d deletes',
        pr.batched, pr.single, pr.insert, pr.delete))
    out('µs per operation: median [min..max] over rounds; B/A: median [min..max] of the per-round ratios')
    out('')
    local W = {6, 26, 9, 26, 26, 22}
    local function row(cells)
        local s = ''
        for i, c in ipairs(cells) do s = s .. pad(c, W[i]) .. (i < #cells and '  ' or '') end
        out(s)
    end
    row({'wal', 'operation', 'measure', 'A (today)', 'B (proposed)', 'B/A'})
    row({'------', string.rep('-', 26), '---------', string.rep('-', 26), string.rep('-', 26), string.rep('-', 22)})
    for _, r in ipairs(results) do
        for _, ph in ipairs(PHASES) do
            for _, measure in ipairs({'us', 'cpu_us'}) do
                local a, b, ratio = {}, {}, {}
                for i, round in ipairs(r.rounds) do
                    a[i] = round.A[ph.key][measure]
                    b[i] = round.B[ph.key][measure]
                    ratio[i] = b[i] / a[i]
                end
                row({r.mode, ph.label, measure == 'us' and 'wall' or 'tx CPU', fmt_stat(a, 2), fmt_stat(b, 2), fmt_stat(ratio, 3)})
            end
        end
    end
    out('')
    out('memory per tuple, bytes, when the space is built (box.slab.info() deltas; index:bsize() / tuples);')
    out('build: its inserts in txns of 1000 into the empty space, one sample, B after A, s per wal_mode:')
    local m = results[1].memory
    out(string.format('%-6s  %-11s %-12s  %-9s  %s', 'layout', 'arena_used', 'items_used', 'indexes', 'per index'))
    for _, name in ipairs(ORDER) do
        local mm = m[name]
        local total, per = 0, {}
        for _, ix in ipairs(mm.indexes) do
            total = total + ix.bsize
            per[#per + 1] = string.format('%s %.1f', ix.name, ix.bsize / N)
        end
        local builds = {}
        for _, r in ipairs(results) do builds[#builds + 1] = string.format('%s %.1f', r.mode, r.memory[name].build_s) end
        out(string.format('%-6s  %-11.1f %-12.1f  %-9.1f  %s  (space bsize %.1f; build: %s)', name, mm.arena_used / N,
            mm.items_used / N, total / N, table.concat(per, ', '), mm.space_bsize / N, table.concat(builds, ', ')))
    end
    for _, r in ipairs(results) do
        local c = r.checks
        out('')
        out(string.format('checks (wal_mode=%s, space A at %d tuples):', r.mode, N))
        for _, k in ipairs({'key_more_parts', 'key_more_parts_pk'}) do
            out(string.format('  select %s: %s', c[k].key, c[k].ok and 'works' or ('fails: ' .. c[k].err)))
        end
        for _, a in ipairs(c.alter) do
            out(string.format('  %-56s %s in %.2f s, other fiber ran %d times%s', a.label, a.ok and 'ok' or 'FAILS', a.seconds,
                a.other_fiber_turns, a.ok and '' or (': ' .. a.err)))
        end
        out(string.format('  after the failed transaction user_id had %d part(s); at the end: %s', c.after_failed,
            json.encode(c.after_parts)))
        out(string.format('  instance time: %.0f s', r.seconds))
    end
    print(table.concat(lines, '\n'))
end

local function run_parent(o)
    local popen = require('popen')
    local script = fio.abspath(arg[0])
    local binary = arg[-1]
    if binary == nil or not binary:find('/') then binary = '/usr/bin/env' end
    local t_start = clock.realtime()
    local results = {}
    local shares = {none = 0.35, write = 0.65}
    local total_share = 0
    for _, m in ipairs(o.modes) do total_share = total_share + shares[m] end
    for k, m in ipairs(o.modes) do
        local left = o.budget - (clock.realtime() - t_start)
        local share = left
        if k < #o.modes then share = left * shares[m] / total_share end
        total_share = total_share - shares[m]
        local deadline = clock.realtime() + share
        local dir = fio.tempdir()
        local argv = {script, '--tuples', tostring(o.tuples), '--rounds', tostring(o.rounds), '--child', m, dir, string.format('%.3f', deadline)}
        if binary == '/usr/bin/env' then table.insert(argv, 1, 'tarantool') end
        table.insert(argv, 1, binary)
        io.stderr:write(string.format('index-writes: wal_mode=%s in %s, %.0f s at most\n', m, dir, share))
        local ph = popen.new(argv)
        while ph.status.state == 'alive' do
            fiber.sleep(0.2)
            if clock.realtime() > deadline + 90 then
                io.stderr:write('index-writes: the instance overran its time, killing it\n')
                ph:kill()
                ph:wait()
            end
        end
        local status = ph.status
        ph:close()
        local path = fio.pathjoin(dir, 'results.json')
        local f = fio.open(path, {'O_RDONLY'})
        local text = f and f:read() or nil
        if f then f:close() end
        if status.state ~= 'exited' or status.exit_code ~= 0 or text == nil then
            io.stderr:write(string.format('index-writes: wal_mode=%s failed (%s); its log: %s\n', m, json.encode(status),
                fio.pathjoin(dir, 'tarantool.log')))
            os.exit(1)
        end
        fio.rmtree(dir)
        results[#results + 1] = json.decode(text)
    end
    report(results)
    io.stderr:write(string.format('index-writes: %.0f s in all\n', clock.realtime() - t_start))
    os.exit(0)
end

local o = parse_args()
if o.child then run_child(o) else run_parent(o) end

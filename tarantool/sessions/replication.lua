-- The replica set from the environment: which box.cfg options a member starts with, and what this
-- Tarantool can do (elections, promote) by its version. Read once, before the first box.cfg.
local fio = require('fio')
local log = require('log')

local M = {}

-- The replication user: role 'replication' only (sessions.access), its password from
-- TARANTOOL_REPLICATION_PASSWORD. Members connect to each other as this user.
M.USER = 'replicator'

-- Passwords the compose files have fallen back to: never accepted in a replica set.
M.KNOWN_PASSWORDS = {['change-me'] = true, ['change-me-too'] = true}

-- {major, minor, patch} of this Tarantool, from '2.6.0-0-g47aa4e01e'.
local function parse_version(text)
    local major, minor, patch = text:match('^(%d+)%.(%d+)%.(%d+)')
    return {tonumber(major), tonumber(minor), tonumber(patch)}
end

M.version = parse_version(require('tarantool').version)

-- Whether this Tarantool is `major.minor.patch` or later.
function M.at_least(major, minor, patch)
    local v = M.version
    if v[1] ~= major then return v[1] > major end
    if v[2] ~= minor then return v[2] > minor end
    return v[3] >= patch
end

-- Raft elections (box.cfg.election_mode, box.info.election) came in 2.6.1.
M.HAS_ELECTIONS = M.at_least(2, 6, 1)
-- replication_synchro_quorum as a formula of the members registered: 2.5.3, 2.6.2, 2.7.1.
local HAS_QUORUM_FORMULA = M.at_least(2, 6, 2)
-- 2.11 replaced replication_connect_quorum by bootstrap_strategy and added election_fencing_mode.
local HAS_BOOTSTRAP_STRATEGY = M.at_least(2, 11, 0)

local ELECTION_MODES = {off = true, voter = true, candidate = true, manual = true}

-- 'host:port,host:port' -> {'host:port', ...}, blanks dropped.
local function split(list)
    local out = {}
    for item in list:gmatch('[^,%s]+') do out[#out + 1] = item end
    return out
end

-- Whether the data directory holds a snapshot: the member ran before, and is not the one that
-- bootstraps the set.
local function has_data(work_dir)
    return #fio.glob(fio.pathjoin(work_dir, '*.snap')) > 0
end

-- The replication options of box.cfg for `env` (a function name -> value or nil), or nil when
-- TARANTOOL_REPLICATION is not set (a single instance, as before). Raises on a bad setting.
function M.config(env, work_dir)
    local list = env('TARANTOOL_REPLICATION')
    if list == nil then return nil end
    local peers = split(list)
    if #peers == 0 then error('TARANTOOL_REPLICATION names no member') end
    local password = env('TARANTOOL_REPLICATION_PASSWORD')
    if password == nil then
        error('TARANTOOL_REPLICATION_PASSWORD is required with TARANTOOL_REPLICATION: ' ..
            'the password members replicate with')
    end
    -- A replica set is run for production: the passwords docker-compose.ha.yml once fell back to
    -- are known to anyone who read it, and the replicator reads every session and the secret.
    for _, name in ipairs({'TARANTOOL_USER_PASSWORD', 'TARANTOOL_REPLICATION_PASSWORD'}) do
        if M.KNOWN_PASSWORDS[env(name)] then
            error(('%s is a published default (%s): set a secret of your own for a replica set')
                :format(name, env(name)), 0)
        end
    end
    local majority = math.floor(#peers / 2) + 1
    local quorum = tonumber(env('TARANTOOL_SYNCHRO_QUORUM', majority))
    if quorum == nil or quorum < 1 or quorum > #peers or quorum ~= math.floor(quorum) then
        error(('TARANTOOL_SYNCHRO_QUORUM must be an integer from 1 to %d, the members'):format(#peers))
    end
    if not M.at_least(2, 6, 1) and quorum < #peers then
        -- Measured (bench/sync-stalls.sh, Tarantool alone): with acks from more members than the
        -- quorum, some synchronous writes wait out replication_synchro_timeout with every member
        -- up, are rolled back, and can stay on the replicas.
        log.warn('sessions: Tarantool %s stalls synchronous writes at a quorum of %d of %d members ' ..
            'and can leave the members apart: use it for trying and testing only, and a later release ' ..
            '(2.11) in production (README: High availability)', require('tarantool').version, quorum, #peers)
    end
    local synchro_quorum = quorum
    if env('TARANTOOL_SYNCHRO_QUORUM') == nil and HAS_QUORUM_FORMULA then
        -- A majority of the members registered so far, evaluated by Tarantool as they join: the
        -- member that bootstraps a set with elections is alone at first, and must be able to elect
        -- itself (quorum 1) to create the replication user the others join with.
        synchro_quorum = 'N / 2 + 1'
    end
    local mode = env('TARANTOOL_ELECTION_MODE', M.HAS_ELECTIONS and 'candidate' or 'off')
    if not ELECTION_MODES[mode] then
        error('TARANTOOL_ELECTION_MODE must be off, voter, candidate or manual')
    end
    if mode ~= 'off' and not M.HAS_ELECTIONS then
        error(('TARANTOOL_ELECTION_MODE=%s needs Tarantool 2.6.1 or later (this is %s): set it to off')
            :format(mode, require('tarantool').version))
    end
    local uris = {}
    for i, peer in ipairs(peers) do
        uris[i] = ('%s:%s@%s'):format(M.USER, password, peer)
    end
    local cfg = {
        replication = uris,
        replication_synchro_quorum = synchro_quorum,
        replication_synchro_timeout = tonumber(env('TARANTOOL_SYNCHRO_TIMEOUT', 5)),
        replication_timeout = tonumber(env('TARANTOOL_REPLICATION_TIMEOUT', 1)),
    }
    if not HAS_BOOTSTRAP_STRATEGY then
        -- The default (all) leaves a member restarted while another is down read-only (orphan)
        -- until that one is back; a majority is enough to know the set.
        cfg.replication_connect_quorum = quorum
    elseif has_data(work_dir) then
        -- 2.11 (bootstrap_strategy 'auto') recovers by waiting for every member listed, for
        -- replication_connect_timeout (30 s by default), before it syncs with those it reached:
        -- a member restarted while another is down would answer nothing (ER_LOADING) for 30 s.
        -- A peer silent for 4 x replication_timeout counts as gone anyway; the member joins it
        -- when it is back. A new set keeps the default: its members may start far apart.
        cfg.replication_connect_timeout = 4 * cfg.replication_timeout
    end
    if mode == 'off' then
        -- Without elections nothing stops two writers but this: only the member that bootstraps
        -- the set starts writable; every other one, and any member restarted on its data (an
        -- old leader coming back), starts read-only until promoted (sessions.role).
        cfg.read_only = not (env('TARANTOOL_BOOTSTRAP_LEADER') == 'true' and not has_data(work_dir))
    else
        -- Raft decides: read_only = true would keep even an elected leader from writing.
        cfg.election_mode = mode
        cfg.read_only = false
        if HAS_BOOTSTRAP_STRATEGY then
            -- The leader resigns after 2 x replication_timeout without a quorum, before the
            -- others may elect a new one (4 x): the two never overlap.
            cfg.election_fencing_mode = 'strict'
        end
    end
    if not M.at_least(2, 6, 1) then
        -- 2.6.0 cannot recover from a snapshot that holds rows of a synchronous space: the member
        -- stops with "transaction rolled back during snapshot recovery" (tarantool#5298, fixed in
        -- 2.6.1). Without automatic snapshots it recovers from its write-ahead logs, which hold
        -- the confirmations; a snapshot taken by hand (a backup) or a rejoin still makes one.
        local unset = env('TARANTOOL_CHECKPOINT_INTERVAL') == nil
        if unset then cfg.checkpoint_interval = 0 end
        log.warn('sessions: Tarantool %s cannot restart from a snapshot of synchronous spaces (tarantool#5298)%s',
            require('tarantool').version,
            unset and ': automatic snapshots are off, the write-ahead logs grow until a later release'
                or ', and TARANTOOL_CHECKPOINT_INTERVAL makes snapshots')
    end
    return cfg
end

-- For a lone instance (no TARANTOOL_REPLICATION) on the data of a member of a set, a restored
-- backup: on 2.10 and later the set's synchronous queue belongs to the member that led it, or to
-- this one but frozen since its restart until a new promotion, and the instance stays read-only
-- (box.info.ro_reason 'synchro'), with no set to settle it. It is the only member there is: it
-- takes the queue over (box.ctl.promote(); with the queue empty it waits for no one), at every
-- start. Left read-only, and logged, when that fails (the queue held transactions never confirmed).
function M.claim_queue_alone()
    if box.info.ro_reason ~= 'synchro' then return end
    local owner = box.info.synchro.queue.owner
    local ok, err = pcall(box.ctl.promote)
    if not ok then
        log.error('sessions: read-only: the synchronous queue belongs to member %d of a replica set, ' ..
            'and this lone instance cannot take it over: %s', owner, err)
        return
    end
    log.info('sessions: took over the synchronous queue of member %d: this instance is alone', owner)
end

-- The number of members a synchronous write waits for, this one included: as Tarantool evaluates
-- it where box.info.synchro shows it (2.7.3, 2.8.1 and later), else the number configured, or for
-- the formula a majority of the members registered (box.info.replication).
function M.synchro_quorum()
    local synchro = box.info.synchro
    if synchro ~= nil then return synchro.quorum end
    local configured = box.cfg.replication_synchro_quorum
    if type(configured) == 'number' then return configured end
    local registered = 0
    for _ in pairs(box.info.replication) do registered = registered + 1 end
    return math.floor(registered / 2) + 1
end

-- Makes the spaces called `names` synchronous (a write is acknowledged once a quorum has it), or
-- no longer so; those that are already as asked are left alone. Writable member only: the change
-- reaches the others by replication.
function M.sync_spaces(names, enabled)
    for _, name in ipairs(names) do
        local s = box.space[name]
        if s ~= nil and (s.is_sync == true) ~= enabled then
            if s.alter ~= nil then
                s:alter({is_sync = enabled})
            else
                -- 2.6.0 has no space:alter(): the flag is changed in _space, as alter() does.
                local row = box.space._space:get(s.id):totable()
                row[6].is_sync = enabled
                box.space._space:replace(row)
            end
            log.info('sessions: space %s is %s', name, enabled and 'synchronous' or 'no longer synchronous')
        end
    end
end

return M

-- Making a member the writable one (npm run promote, through its admin console).
--
-- Without elections, a planned switchover is: the target calls sessions_peer.step_down on every
-- other member, with the replication user's credentials it holds in box.cfg.replication; the old
-- leader writes its last marks of use, turns read-only and waits until its own synchronous
-- transactions are settled (confirmed by a quorum, or rolled back), then answers its vclock; the
-- target waits until it has everything any member answered, and only then takes writes. The
-- replication user may execute step_down and nothing else of ours: it is the one thing a member
-- needs of another, and the credentials are there already (no admin password is spread).
-- --force is the same without the old leader: it is dead, the target catches up with the members
-- that answer (a majority is required) and takes the queue over.
--
-- Where elections run the leader is elected: promote() asks for an election of this member
-- (box.ctl.promote(), which Raft makes safe), and failover needs no command at all.
local fiber = require('fiber')
local log = require('log')
local net_box = require('net.box')
local activity = require('sessions.activity')
local replication = require('sessions.replication')

local M = {NAMESPACE = 'sessions_peer', procedures = {}}

-- How long a peer may take to answer a connection or a call.
local CONNECT_TIMEOUT = 2

-- Raises why a promotion cannot go on, as the operator reads it (no position in the code).
local function fail(message, ...)
    error(message:format(...), 0)
end

local function synchro_timeout()
    return box.cfg.replication_synchro_timeout or 5
end

local function elections()
    local mode = box.cfg.election_mode
    return mode ~= nil and mode ~= 'off'
end

-- {{id, lsn}, ...}: a vclock as a list, the same through msgpack whatever its gaps.
local function vclock_list()
    local out = {}
    for id, lsn in pairs(box.info.vclock) do
        if id ~= 0 then out[#out + 1] = {id, lsn} end
    end
    return out
end

-- How many members (this one included) have received everything up to `lsn` of this member.
local function acked(lsn)
    local count = 1
    for _, r in pairs(box.info.replication) do
        local down = r.downstream
        if r.id ~= box.info.id and down ~= nil and down.vclock ~= nil and (down.vclock[box.info.id] or 0) >= lsn then
            count = count + 1
        end
    end
    return count
end

local quorum = replication.synchro_quorum

-- Waits, until `deadline` (fiber.clock()), for this member's own synchronous transactions to be
-- settled, once it is read-only: none left in its queue where box.info.synchro shows it (2.7.3,
-- 2.8.1 and later). On 2.6, where the queue cannot be seen: its last row received by a quorum and
-- nothing written since (a confirmation follows the quorum's acknowledgement at once); or, since
-- 2.6.0 at times never hears an acknowledgement, replication_synchro_timeout passed (a transaction
-- waits no longer: it is confirmed or rolled back by then) and nothing written since. Whether they
-- are.
local function settle_own(deadline)
    local given_up_at = fiber.clock() + synchro_timeout() + 0.2
    while fiber.clock() < deadline do
        if box.info.synchro ~= nil then
            if box.info.synchro.queue.len == 0 then return true end
            fiber.sleep(0.01)
        else
            local lsn = box.info.lsn
            if acked(lsn) >= quorum() or fiber.clock() > given_up_at then
                fiber.sleep(0.1)
                if box.info.lsn == lsn then return true end
            else
                fiber.sleep(0.01)
            end
        end
    end
    return false
end

-- Called by a member about to take writes (through its replication user): this member stops
-- taking writes, waits for its own synchronous transactions to settle, and answers
-- {uuid, id, was_writable, settled, vclock}.
function M.procedures.step_down()
    local was_writable = not box.info.ro
    local settled = true
    if was_writable then
        if elections() then fail('this member runs elections: its leadership is decided by them') end
        -- The last marks of use, while it may still write them.
        pcall(activity.flush)
        box.cfg{read_only = true}
        log.warn('sessions: stepped down: read-only, another member takes the writes')
        settled = settle_own(fiber.clock() + 2 * synchro_timeout() + 1)
    end
    return {uuid = box.info.uuid, id = box.info.id, was_writable = was_writable, settled = settled,
        vclock = vclock_list()}
end

-- Calls step_down on every other member listed in box.cfg.replication, in parallel; returns the
-- answers ({uri, reply} or {uri, error}, with the password left out of the uri).
local function step_down_peers()
    local results = {}
    local done = fiber.channel(#box.cfg.replication)
    for i, uri in ipairs(box.cfg.replication) do
        fiber.create(function()
            local shown = uri:gsub('^[^@]*@', '')
            local ok, reply = pcall(function()
                local conn = net_box.connect(uri, {connect_timeout = CONNECT_TIMEOUT})
                if not conn:is_connected() then error(conn.error or 'cannot connect', 0) end
                local r = conn:call(M.NAMESPACE .. '.step_down', {},
                    {timeout = 2 * synchro_timeout() + 1 + CONNECT_TIMEOUT})
                conn:close()
                return r
            end)
            results[i] = ok and {uri = shown, reply = reply} or {uri = shown, error = tostring(reply)}
            done:put(true)
        end)
    end
    for _ = 1, #box.cfg.replication do done:get() end
    return results
end

-- Waits until this member has every row the others answered they have (their vclocks, but for
-- this member's own part); whether it has, by `deadline`.
local function catch_up(replies, deadline)
    while true do
        local mine, behind = box.info.vclock, false
        for _, reply in ipairs(replies) do
            for _, pair in ipairs(reply.vclock) do
                local id, lsn = pair[1], pair[2]
                if id ~= box.info.id and (mine[id] or 0) < lsn then behind = true end
            end
        end
        if not behind then return true end
        if fiber.clock() > deadline then return false end
        fiber.sleep(0.01)
    end
end

-- Takes the synchronous queue over and writes: with box.ctl.promote() where it exists (it
-- confirms what a quorum has of the old leader's transactions), else clear_synchro_queue().
local function take_over()
    if box.ctl.promote ~= nil then
        box.ctl.promote()
    else
        box.ctl.clear_synchro_queue()
    end
    box.cfg{read_only = false}
end

local function promote_elected(timeout)
    if box.ctl.promote == nil then
        fail('this Tarantool (%s) elects its leader but has no box.ctl.promote() (2.6.3, 2.7.2, 2.8.1 ' ..
            'and later): the leader is elected by itself, no command is needed', box.info.version)
    end
    box.ctl.promote()
    box.ctl.wait_rw(timeout)
end

local function summary(extra)
    local out = {uuid = box.info.uuid, id = box.info.id, ro = box.info.ro, lsn = box.info.lsn}
    for k, v in pairs(extra or {}) do out[k] = v end
    return out
end

-- Makes this member the writable one. opts: force (the leader is dead: go on without it),
-- timeout (seconds to catch up; default 2 x replication_synchro_timeout + 5). Returns a summary,
-- or raises why it could not; on failure without elections every member may be left read-only
-- (promote the old leader again: it has everything).
function M.promote(opts)
    opts = opts or {}
    local timeout = opts.timeout or 2 * synchro_timeout() + 5
    if #(box.cfg.replication or {}) == 0 then
        fail('this Tarantool is not in a replica set (TARANTOOL_REPLICATION is not set)')
    end
    if elections() then
        if box.info.election.state == 'leader' and not box.info.ro then return summary({already = true}) end
        promote_elected(timeout)
        return summary({elected = true, term = box.info.election.term})
    end
    if not box.info.ro then return summary({already = true}) end
    local previous, replies, unreachable = nil, {}, {}
    for _, result in ipairs(step_down_peers()) do
        if result.error ~= nil then
            unreachable[#unreachable + 1] = result.uri .. ': ' .. result.error
        elseif result.reply.uuid ~= box.info.uuid then
            replies[#replies + 1] = result.reply
            if result.reply.was_writable then previous = result.reply end
        end
    end
    if previous == nil and not opts.force then
        fail('no writable member answered%s: if the leader is dead, use --force',
            #unreachable > 0 and ' (' .. table.concat(unreachable, '; ') .. ')' or '')
    end
    if previous ~= nil and not previous.settled then
        fail('the old leader (id %d) stepped down but could not settle its synchronous transactions ' ..
            'in time (no quorum?): every member is read-only now', previous.id)
    end
    if #replies + 1 < quorum() then
        fail('only %d members of the set answer, fewer than the synchronous quorum (%d): this member ' ..
            'could not write anyway', #replies + 1, quorum())
    end
    if not catch_up(replies, fiber.clock() + timeout) then
        fail('did not receive within %g s all that the other members have: every member is read-only ' ..
            'now; promote the most advanced one', timeout)
    end
    take_over()
    log.warn('sessions: promoted to the writable member%s', opts.force and ' (forced)' or '')
    return summary({previous = previous and previous.id, forced = opts.force == true, unreachable = unreachable})
end

return M

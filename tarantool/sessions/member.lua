-- What this member is in its replica set, for the service, which calls sessions.member() on every
-- member about four times a second to find the writable one and show the set. Reads box.info
-- only, one section at a time: no space is read, nothing is written.
local replication = require('sessions.replication')
local role = require('sessions.role')

local M = {}

-- A peer's upstream (what this member receives from it) or downstream (what it sends to it).
local function stream(s)
    if s == nil then return nil end
    return {status = s.status, lag = s.lag, idle = s.idle, message = s.message}
end

-- The members this one knows of (the _cluster space, as box.info.replication shows it), by id.
local function peers()
    local out = {}
    for _, r in pairs(box.info.replication) do
        out[#out + 1] = {
            id = r.id,
            uuid = r.uuid,
            -- This member's vclock component of that member: how much of its writes it has.
            lsn = r.lsn,
            upstream = stream(r.upstream),
            downstream = stream(r.downstream),
        }
    end
    table.sort(out, function(a, b) return a.id < b.id end)
    return out
end

local function uuid_of(list, id)
    for _, r in ipairs(list) do
        if r.id == id then return r.uuid end
    end
    return nil
end

-- This member: {uuid, id, ro, ro_reason, status, version, lsn, writable, elections, election,
-- synchro_quorum, replication}; see tarantool/README.md.
function M.info()
    local list = peers()
    local mode = box.cfg.election_mode
    local out = {
        uuid = box.info.uuid,
        id = box.info.id,
        ro = box.info.ro,
        -- 2.10 and later: why it is read-only (election, synchro, config, orphan).
        ro_reason = box.info.ro_reason,
        status = box.info.status,
        version = box.info.version,
        lsn = box.info.lsn,
        -- Whether the work of the writable member (sweep, activity, conversions) runs here.
        writable = role.writable,
        elections = mode ~= nil and mode ~= 'off',
        synchro_quorum = replication.synchro_quorum(),
        replication = list,
    }
    local election = box.info.election
    if election ~= nil then
        out.election = {
            mode = mode,
            state = election.state,
            term = election.term,
            leader = election.leader,
            leader_uuid = uuid_of(list, election.leader),
        }
    end
    return out
end

return M

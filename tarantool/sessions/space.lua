-- The sessions space and its companions: tuple field positions, named once.
local M = {}

M.NAME = 'sessions'

M.F = {
    token = 1,     -- uuid, primary key: the token, or its hash (sessions.keys)
    user_id = 2,   -- unsigned
    ip = 3,        -- IPv4: its 32-bit number; IPv6: canonical text (the service converts)
    create = 4,    -- unix seconds
    activity = 5,  -- unix seconds of the last use
    extra = 6,     -- map or null
    -- The fields below are absent from a session that has none of them (the seed's kind), so that
    -- it costs no byte more.
    ttl = 7,       -- seconds of idleness after which this session is gone; null: the TTL setting's
    ends = 8,      -- unix second from which it is gone however used (create + lifetime), or null
    origin = 9,    -- the key its id is made of, once a rotation gave it another one (sessions.aliases)
}

-- Sessions with a ttl or an end of their own, by the second they are gone if not used again
-- (sessions.deadlines): {key, at}.
M.DEADLINES = 'sessions_deadlines'
-- Keys a session was stored under before a rotation (sessions.aliases): {key, target, until, origin}.
M.ALIASES = 'sessions_aliases'
-- The newest use of a session within the window of its stored activity (sessions.activity):
-- {key, second}.
M.SEEN = 'sessions_seen'
-- What happened to sessions, in order, for the service's event stream (sessions.events), and the
-- sequence that numbers them.
M.EVENTS = 'sessions_events'
M.EVENTS_SEQUENCE = 'sessions_events_seq'

function M.get()
    return box.space[M.NAME]
end

function M.deadlines()
    return box.space[M.DEADLINES]
end

function M.aliases()
    return box.space[M.ALIASES]
end

function M.seen()
    return box.space[M.SEEN]
end

function M.events()
    return box.space[M.EVENTS]
end

-- The key a session's id is made of: its first, which a rotation keeps in `origin`.
function M.identity(t)
    return M.opt(t, M.F.origin) or t[M.F.token]
end

-- A value that may be null, as nil (a null is box.NULL: equal to nil, but true in a test).
function M.given(v)
    if v == nil then return nil end
    return v
end

-- A field that may be absent or null, as nil.
function M.opt(t, field)
    return M.given(t[field])
end

return M

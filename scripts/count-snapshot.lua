-- tarantool count-snapshot.lua FILE SPACE_ID: prints how many tuples of the space a snapshot holds.
-- Run apart from the instance, so that reading a large file never stalls it.
local xlog = require('xlog')

local path, space_id = arg[1], tonumber(arg[2])
local count = 0
for _, row in xlog.pairs(path) do
    if row.BODY.space_id == space_id then count = count + 1 end
end
print(count)
os.exit(0)

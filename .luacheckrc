-- luacheck (npm run lint) over tarantool/: the code runs in Tarantool, which is LuaJIT.
std = 'luajit'
-- What Tarantool adds to LuaJIT's globals; the code itself sets none (a module returns its table).
read_globals = {
    'box',
    string = {fields = {'hex', 'fromhex', 'split', 'startswith', 'endswith', 'strip', 'lstrip', 'rstrip'}},
    table = {fields = {'copy', 'deepcopy', 'equals'}},
}
-- As tarantool/crud's.
max_line_length = 120

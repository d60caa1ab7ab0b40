#!/usr/bin/env bash
# Tarantool's synchronous replication alone, with no code of this project: three bare members on
# loopback ports (3 free ones from BASE_PORT, default 3591), a synchronous space, and inserts for
# SECONDS (default 8) from 1 fiber and from 50, with replication_synchro_quorum 2 and then 3.
# Prints, for each: inserts acknowledged, failed (quorum timeouts, 5 s each) and what each member
# holds afterwards. On Tarantool 2.6.0 a quorum of 2 of 3 stalls and the members end up apart;
# see bench/README.md. Usage: bash bench/sync-stalls.sh   (TARANTOOL_BIN to pick the binary)
set -euo pipefail
BIN=${TARANTOOL_BIN:-tarantool}
BASE=${BASE_PORT:-3591}
SECONDS_EACH=${PROBE_SECONDS:-8}
DIR=$(mktemp -d)
PIDS=()
# Tarantool renames its process, so the members are stopped by their pids. KEEP=1 keeps their logs.
trap 'kill "${PIDS[@]}" 2>/dev/null || true; sleep 0.5; [ -n "${KEEP:-}" ] && echo "kept $DIR" || rm -rf "$DIR"' EXIT
PEERS="'127.0.0.1:$BASE','127.0.0.1:$((BASE + 1))','127.0.0.1:$((BASE + 2))'"

for i in 0 1 2; do
  mkdir "$DIR/m$i"
  cat > "$DIR/m$i/init.lua" <<EOF
box.cfg{listen = '127.0.0.1:$((BASE + i))', replication = {$PEERS}, read_only = $([ $i = 0 ] && echo false || echo true),
  replication_synchro_quorum = 2, replication_synchro_timeout = 5, replication_timeout = 1,
  work_dir = '$DIR/m$i', log = '$DIR/m$i/tarantool.log'}
box.once('probe', function()
  box.schema.user.grant('guest', 'super')
  box.schema.space.create('probe', {is_sync = true}):create_index('pk', {type = 'hash', parts = {1, 'string'}})
end)
require('console').listen('$DIR/m$i/console.sock')
EOF
  (cd "$DIR/m$i" && exec "$BIN" "$DIR/m$i/init.lua" > /dev/null 2>&1) &
  PIDS+=($!)
done

eval_on () { # member, Lua returning a string; prints that string
  "$BIN" -e "
    local nb = require('net.box').connect('127.0.0.1:$((BASE + $1))')
    print(nb:eval([[$2]]))
    nb:close()
    os.exit(0)"
}

for _ in $(seq 1 100); do
  if [ "$(eval_on 0 "return tostring(box.space.probe ~= nil and box.info.status == 'running')" 2>/dev/null || true)" = true ] &&
     [ "$(eval_on 2 "return tostring(box.space.probe ~= nil)" 2>/dev/null || true)" = true ]; then break; fi
  sleep 0.2
done
"$BIN" -v | head -1

for quorum in 2 3; do
  for fibers in 1 50; do
    eval_on 0 "
      local fiber, uuid = require('fiber'), require('uuid')
      box.cfg{replication_synchro_quorum = $quorum}
      local s = box.space.probe
      local ok, failed, done = 0, 0, 0
      local deadline = fiber.clock() + $SECONDS_EACH
      for _ = 1, $fibers do
        fiber.create(function()
          while fiber.clock() < deadline do
            if pcall(s.insert, s, {uuid.str()}) then ok = ok + 1 else failed = failed + 1 end
          end
          done = done + 1
        end)
      end
      while done < $fibers do fiber.sleep(0.1) end
      return string.format('quorum %d of 3, %2d fibers, %d s: %7d acknowledged, %3d failed', $quorum, $fibers, $SECONDS_EACH, ok, failed)"
    sleep 2
    echo "    rows on each member: $(for i in 0 1 2; do eval_on $i 'return tostring(box.space.probe:len())'; done | tr '\n' ' ')"
  done
done

#!/usr/bin/env bash
# Redis, both ways:
#  1. redis-cli under synack against a kernel redis-server in the peer namespace: SET of a 1 MiB
#     binary value (redis-cli -x), GET back under synack byte-exact, and a kernel redis-cli in
#     the peer namespace reads the same 1 MiB (what synack sent is what the server stored);
#  2. redis-server under synack on 10.77.0.1 with a kernel redis-benchmark (-n 2000 -c 20, SET
#     and GET, 4000 requests): the benchmark completes and the server counts every command.
. "$(dirname "$0")/lib.sh"

lab_up
REDIS_OPTS=(--port 6379 --save '' --appendonly no --protected-mode no --daemonize no
	--logfile '' --dir "$LAB_TMP")

# Wait (at most ~15 s) until `redis-cli -h HOST ping` answers PONG, run by the given runner.
wait_pong() {
	local host=$1 pid=$2 i
	shift 2
	for ((i = 0; i < 30; i++)); do
		if [[ $("$@" timeout 2 redis-cli -h "$host" ping 2>/dev/null) == PONG ]]; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}

# ---- 1. clients under synack, kernel server ----
spawn "$LAB_TMP/peer-redis.log" ip netns exec "$NS_B" redis-server --bind "$ADDR_B" "${REDIS_OPTS[@]}"
peer=$LAB_LAST_PID
if ! wait_pong "$ADDR_B" "$peer" peer_exec; then
	fail "kernel redis-server on the peer" "no PONG within 15 s"
	show "$LAB_TMP/peer-redis.log"
	lab_finish
fi
make_file "$LAB_TMP/value.bin" 1048576
rc=0
out=$(LAB_TIMEOUT=30 synack_exec redis-cli -h "$ADDR_B" -x SET big <"$LAB_TMP/value.bin" 2>"$LAB_TMP/set.err") || rc=$?
if ((rc != 0)) || [[ $out != OK ]]; then
	fail "redis-cli under synack: SET 1 MiB" "exit $rc, reply '${out:0:80}'"
	show "$LAB_TMP/set.err"
else
	pass "redis-cli under synack: SET 1 MiB answered OK"
fi
# --raw GET prints the value and a newline.
rc=0
LAB_TIMEOUT=30 synack_exec redis-cli -h "$ADDR_B" --raw GET big >"$LAB_TMP/get.raw" 2>"$LAB_TMP/get.err" || rc=$?
head -c -1 "$LAB_TMP/get.raw" >"$LAB_TMP/get.bin"
if ((rc != 0)); then
	fail "redis-cli under synack: GET 1 MiB" "exit $rc"
	show "$LAB_TMP/get.err"
elif [[ $(sha "$LAB_TMP/get.bin") != "$(sha "$LAB_TMP/value.bin")" ]]; then
	fail "redis-cli under synack: GET 1 MiB" "SHA-256 differs ($(stat -c %s "$LAB_TMP/get.bin") bytes)"
else
	pass "redis-cli under synack: GET 1 MiB, SHA-256 equal"
fi
peer_exec timeout 10 redis-cli -h "$ADDR_B" --raw GET big 2>/dev/null | head -c -1 >"$LAB_TMP/kget.bin" || true
if [[ $(sha "$LAB_TMP/kget.bin") == "$(sha "$LAB_TMP/value.bin")" ]]; then
	pass "the value stored through synack reads back byte-exact from a kernel redis-cli"
else
	fail "the value stored through synack reads back from a kernel redis-cli" "SHA-256 differs ($(stat -c %s "$LAB_TMP/kget.bin") bytes)"
fi

# ---- 2. server under synack, kernel benchmark ----
LAB_TIMEOUT=120 spawn "$LAB_TMP/redis.log" synack_exec redis-server --bind "$ADDR_A" "${REDIS_OPTS[@]}"
server=$LAB_LAST_PID
if ! wait_pong "$ADDR_A" "$server" peer_exec; then
	fail "redis-server under synack answers PING" "no PONG within 15 s"
	show "$LAB_TMP/redis.log"
	lab_finish
fi
pass "redis-server under synack answers PING from a kernel redis-cli"
rc=0
peer_exec timeout -k 3 60 redis-benchmark -h "$ADDR_A" -n 2000 -c 20 -t set,get -d 100 --csv \
	>"$LAB_TMP/bench.csv" 2>"$LAB_TMP/bench.err" || rc=$?
# INFO counts the two PINGs, the 4000 benchmark commands, and redis-benchmark's CONFIG GETs.
processed=$(peer_exec timeout 10 redis-cli -h "$ADDR_A" INFO stats 2>/dev/null |
	sed -nE 's/^total_commands_processed:([0-9]+)\r?$/\1/p')
if ((rc != 0)); then
	fail "redis-benchmark against redis-server under synack" "exit $rc"
	show "$LAB_TMP/bench.err"
	show "$LAB_TMP/redis.log"
elif ! grep -q '^"SET"' "$LAB_TMP/bench.csv" || ! grep -q '^"GET"' "$LAB_TMP/bench.csv"; then
	fail "redis-benchmark against redis-server under synack" "no SET/GET result line"
	show "$LAB_TMP/bench.csv"
elif [[ -z $processed ]] || ((processed < 4000)); then
	fail "redis-benchmark against redis-server under synack" "server processed ${processed:-?} commands, want >= 4000"
else
	pass "redis-benchmark -n 2000 -c 20 SET+GET against redis-server under synack: $processed commands processed ($(sed -nE 's/^"(SET|GET)","([0-9.]+)".*/\1 \2 req\/s/p' "$LAB_TMP/bench.csv" | paste -sd, -))"
fi
if ! kill -0 "$server" 2>/dev/null; then
	fail "redis-server under synack still running" "it exited"
	show "$LAB_TMP/redis.log"
fi
lab_finish

#!/usr/bin/env bash
# Blind injection into a 100 MiB transfer (RFC 5961; docs/security.md).
#
# A Python server under synack sends 100 MiB to a kernel client, which connects from a fixed
# port and reads at about 40 MiB/s, so the transfer lasts a few seconds. Once the connection is
# up, examples/tcpinject, in the peer namespace, injects segments with the connection's real
# 4-tuple (what an off-path attacker may know or guess) and random sequence and
# acknowledgment numbers, 20,000 a second until the transfer ends: RSTs, SYNs and 64-byte data
# segments in turn. Checks:
#   - the transfer completes, SHA-256 equal: no injected RST or SYN ended the connection;
#   - the challenge ACKs synack sent stay within RFC 5961 §7's limit of one per 500 ms
#     (tcp_challenge_acks - tcp_challenge_acks_limited <= 2 per second of injection + 2);
#   - the server received no injected byte (reported: an injected data segment passes only if
#     its sequence number falls in synack's receive window and its ACK within the RFC 5961 §5.2
#     range, about one chance in 10^7 per segment here).
. "$(dirname "$0")/lib.sh"

lab_up

INJ=$LAB_BUILD/examples/tcpinject
PORT=7111
CPORT=41111
RATE=20000
SIZE=$((100 * 1024 * 1024))
make_file "$LAB_TMP/data" "$SIZE"
PY=$LAB_TMP/blind.py
cat >"$PY" <<'EOF'
import hashlib, os, socket, sys, threading, time
from labpeer import listener

def server(addr, port, path, tmp):
    ls = listener(addr, port, 4)
    open(tmp + '/ready', 'w').close()
    c, _ = ls.accept()
    got = [0]
    def drain():
        # Whatever arrives on the connection (only injected data could).
        while True:
            b = c.recv(65536)
            if not b:
                break
            got[0] += len(b)
    t = threading.Thread(target=drain, daemon=True)
    t.start()
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            c.sendall(b)
    c.shutdown(socket.SHUT_WR)
    t.join(30)
    open(tmp + '/injected-bytes', 'w').write('%d\n' % got[0])
    c.close()
    sys.exit(0)

def client(addr, port, cport, tmp):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('', cport))
    s.connect((addr, port))
    open(tmp + '/connected', 'w').close()
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
        # About 40 MiB/s, so that the injection meets a transfer in progress.
        ahead = n / (40 << 20) - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    open(tmp + '/done', 'w').close()
    print(h.hexdigest(), n, '%.2f' % (time.monotonic() - t0))

if sys.argv[1] == 'server':
    server(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
else:
    client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
EOF

STATS=$LAB_TMP/stats
SYNACK_STATS=$STATS LAB_TIMEOUT=120 spawn "$LAB_TMP/server.log" \
	synack_exec "$LAB_PY" "$PY" server "$ADDR_A" "$PORT" "$LAB_TMP/data" "$LAB_TMP"
server_pid=$LAB_LAST_PID
synack_wait_ready "$LAB_TMP/server.log"
spawn "$LAB_TMP/client.out" timeout -k 3 90 ip netns exec "$NS_B" "$LAB_PY" "$PY" client "$ADDR_A" \
	"$PORT" "$CPORT" "$LAB_TMP"
client_pid=$LAB_LAST_PID
for ((i = 0; i < 200; i++)); do
	[[ -e $LAB_TMP/connected ]] && break
	sleep 0.05
done
MAC_A=$(ip netns exec "$NS_A" cat /sys/class/net/$IF_A/address)
MAC_B=$(ip netns exec "$NS_B" cat /sys/class/net/veth-peer/address)
t0=$(now_ms)
spawn "$LAB_TMP/inject.log" timeout -k 3 100 ip netns exec "$NS_B" "$INJ" veth-peer "$MAC_A" "$ADDR_A" \
	blind "$MAC_B" "$ADDR_B" "$CPORT" "$PORT" "$RATE" 2000000 "$LAB_TMP/done"
inject_pid=$LAB_LAST_PID
rc=0
wait "$client_pid" || rc=$?
timeout 10 tail --pid="$inject_pid" -f /dev/null 2>/dev/null || true
secs=$((($(now_ms) - t0 + 999) / 1000))
timeout 30 tail --pid="$server_pid" -f /dev/null 2>/dev/null || true
echo "# injector: $(cat "$LAB_TMP/inject.log")"

name="100 MiB under blind RST, SYN and data injection"
read -r got_sha got_n got_secs <"$LAB_TMP/client.out" || true
if ((rc != 0)); then
	fail "$name" "client exited $rc"
	show "$LAB_TMP/client.out"
	show "$LAB_TMP/server.log"
elif [[ $got_sha != "$(sha "$LAB_TMP/data")" || $got_n != "$SIZE" ]]; then
	fail "$name" "got $got_n bytes, SHA-256 $got_sha"
else
	pass "$name: SHA-256 equal ($got_n bytes in $got_secs s; $(cat "$LAB_TMP/inject.log"))"
fi

if [[ ! -s $STATS ]]; then
	fail "challenge ACKs within their rate limit" "no SYNACK_STATS file"
	show "$LAB_TMP/server.log"
	lab_finish
fi
due=$(stat_of "$STATS" tcp_challenge_acks)
limited=$(stat_of "$STATS" tcp_challenge_acks_limited)
oow=$(stat_of "$STATS" tcp_drop_out_of_window)
resets=$(stat_of "$STATS" tcp_conn_reset)
name="challenge ACKs stay within RFC 5961 §7's limit (one per 500 ms)"
if ((due - limited <= 2 * secs + 2 && due > 0 && resets == 0)); then
	pass "$name: $((due - limited)) sent of $due due over ~$secs s of injection ($oow segments dropped out of the window, no reset)"
else
	fail "$name" "$((due - limited)) sent of $due due over ~$secs s (bound $((2 * secs + 2)), want > 0 due), resets $resets"
fi
injected=$(cat "$LAB_TMP/injected-bytes" 2>/dev/null || echo '?')
name="no injected byte reached the server"
if [[ $injected == 0 ]]; then
	pass "$name"
else
	fail "$name" "$injected bytes"
fi
lab_finish

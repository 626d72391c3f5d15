#!/usr/bin/env bash
# Servers that fork a process per connection, under synack, against kernel clients in the peer
# namespace. The parent closes its copy of each accepted connection right after fork(); the
# child serves it and closes it last.
#  1. Python's socketserver.ForkingTCPServer echo server: 20 clients one after the other, then
#     10 at once, each sends 256 KiB of random data and gets it back byte-exact, then an
#     orderly EOF (a FIN, not a reset). tcpdump on the peer over the whole part: no RST in
#     either direction and at least one FIN from the server per connection (30); no child
#     (each leaves by os._exit) dies holding the stack's lock.
#  2. socat TCP-LISTEN:...,fork,reuseaddr EXEC:cat (a child per connection, which runs cat):
#     10 clients at once, 256 KiB each, the same checks (no RST, 10 server FINs).
# Each server must still run afterwards. By hand, LAB_KERNEL_ONLY=1 runs the servers on the
# kernel: every check passes there.
. "$(dirname "$0")/lib.sh"

SIZE=$((256 * 1024))
lab_up

# 1. ForkingTCPServer.
cat >"$LAB_TMP/forking.py" <<'PYEOF'
import socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while b := self.request.recv(65536):
            self.request.sendall(b)
class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 32
with Server((sys.argv[1], int(sys.argv[2])), Echo) as srv:
    print("listening", flush=True)
    srv.serve_forever()
PYEOF
peer_capture forking "tcp port 7600 and ($PCAP_CTL)"
LAB_TIMEOUT=150 spawn "$LAB_TMP/forking.log" synack_exec "$LAB_PY" -u "$LAB_TMP/forking.py" "$ADDR_A" 7600
forking=$LAB_LAST_PID
wait_started "the ForkingTCPServer under synack" "$LAB_TMP/forking.log" '^listening' "$forking"
peer_echo 7600 "$SIZE" 20 sequential "ForkingTCPServer: "
peer_echo 7600 "$SIZE" 10 parallel "ForkingTCPServer: "
# Every server FIN is on the wire before the client's recv saw EOF; wait (at most 15 s) until
# tcpdump has written them all, so that the count below sees the whole part.
wait_for 15 pcap_has "$LAB_TMP/forking.pcap" "src host $ADDR_A and $PCAP_FIN" 30 || true
peer_capture_stop
check_no_rst "ForkingTCPServer: every one of the 30 connections ends with the server's FIN, no RST" \
	"$LAB_TMP/forking.pcap" 30
check_running "ForkingTCPServer under synack still running" "$forking" "$LAB_TMP/forking.log"
# Each child leaves by os._exit() right after its close: synack closes its sockets and stops its
# runtime thread first (intercept_exit.c), so no child dies holding the stack's lock (the stack
# would be repaired, and a connection the dead thread was sending on could stall).
if grep -q "died holding the stack lock" "$LAB_TMP/forking.log"; then
	fail "ForkingTCPServer: no child leaves holding the stack's lock" \
		"$(grep -c "died holding the stack lock" "$LAB_TMP/forking.log") repairs"
else
	pass "ForkingTCPServer: no child leaves holding the stack's lock (30 children left by os._exit)"
fi

# 2. socat fork + EXEC:cat. -t 30: after the client's EOF, socat waits up to 30 s for cat to
# finish echoing (the default 0.5 s would cut the echo short on a loaded machine); it ends as
# soon as cat has.
peer_capture socat "tcp port 7601 and ($PCAP_CTL)"
LAB_TIMEOUT=150 spawn "$LAB_TMP/socat.log" synack_exec socat -d -d -t 30 \
	"TCP-LISTEN:7601,bind=$ADDR_A,fork,reuseaddr" EXEC:cat
socat=$LAB_LAST_PID
wait_started "socat under synack" "$LAB_TMP/socat.log" 'listening on' "$socat"
peer_echo 7601 "$SIZE" 10 parallel "socat fork EXEC:cat: "
wait_for 15 pcap_has "$LAB_TMP/socat.pcap" "src host $ADDR_A and $PCAP_FIN" 10 || true
peer_capture_stop
check_no_rst "socat fork EXEC:cat: every one of the 10 connections ends with the server's FIN, no RST" \
	"$LAB_TMP/socat.pcap" 10
check_running "socat under synack still running" "$socat" "$LAB_TMP/socat.log"
lab_finish

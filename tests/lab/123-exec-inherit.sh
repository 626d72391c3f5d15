#!/usr/bin/env bash
# A connection of a program under synack, handed to `cat` through exec: the socket is cat's
# stdout (upload: cat FILE streams 10 MiB to a kernel sink) or its stdin (download: a kernel
# source sends 10 MiB, which cat writes to a file), not close-on-exec, cat running under the
# same preload:
#  - fork: the python3 program connects, forks; the child dup2()s the socket onto fd 1 (or 0)
#    and execs cat; the parent closes its copy right after fork() and waits for the child,
#    which must exit 0;
#  - exec: the program dup2()s the socket onto fd 1 (or 0), closes the original and execs cat
#    itself.
# Each of the 4 runs: byte-exact (SHA-256) at the other end; the connection's end comes from
# the last close, when cat exits: the kernel sink counts every byte before its EOF (a FIN from
# the parent's close would cut the stream short), the kernel source sees our EOF after it sent
# all and half-closed. tcpdump on the peer over all 4 runs: no RST in either direction, a FIN
# from 10.77.0.1 on each of the 4 connections. By hand, LAB_KERNEL_ONLY=1 runs the program and
# cat on the kernel: every check passes there.
. "$(dirname "$0")/lib.sh"

SIZE=$((10 * 1024 * 1024))
lab_up
make_file "$LAB_TMP/up.bin" "$SIZE"
make_file "$LAB_TMP/down.bin" "$SIZE"

cat >"$LAB_TMP/peer.py" <<'PYEOF'
# 7301 sink: reads a connection to its end, prints "SINK SHA256HEX COUNT".
# 7302 source: sends down.bin, half-closes, reads to the end, prints "SOURCE EOF COUNT" (what
# came from the other side: nothing is expected).
import hashlib, socket, sys, threading
import labpeer
B, D = sys.argv[1], sys.argv[2]
def sink(c):
    h, n = hashlib.sha256(), 0
    while b := c.recv(1 << 16):
        h.update(b)
        n += len(b)
    print(f"SINK {h.hexdigest()} {n}", flush=True)
    c.close()
def source(c):
    with open(f"{D}/down.bin", "rb") as f:
        c.sendfile(f)
    c.shutdown(socket.SHUT_WR)
    n = 0
    while b := c.recv(1 << 16):
        n += len(b)
    print(f"SOURCE EOF {n}", flush=True)
    c.close()
threading.Thread(target=labpeer.serve_threads, args=(B, 7302, source), daemon=True).start()
labpeer.serve_threads(B, 7301, sink)
PYEOF

cat >"$LAB_TMP/client.py" <<'PYEOF'
# client.py fork|exec up|down HOST FILE: up: cat FILE to HOST:7301; down: cat from HOST:7302
# into FILE.
import os, socket, sys
mode, way, host, path = sys.argv[1:5]
s = socket.create_connection((host, 7301 if way == "up" else 7302), timeout=30)
s.settimeout(None)  # blocking again: cat shares the file description, O_NONBLOCK included
def become_cat():
    # dup2 makes an inheritable copy (not close-on-exec); s itself is close-on-exec (Python's
    # default), so the exec leaves cat exactly one descriptor of the connection.
    if way == "up":
        os.dup2(s.fileno(), 1)
        os.execvp("cat", ["cat", path])
    os.dup2(s.fileno(), 0)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.execvp("cat", ["cat"])
if mode == "exec":
    try:
        become_cat()
    finally:
        os._exit(127)
pid = os.fork()
if pid == 0:
    try:
        become_cat()
    finally:
        os._exit(127)
s.close()  # the parent's copy, right after fork: not the last one
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
print(f"ok the child (cat) exited 0" if code == 0 else f"FAIL the child (cat) exited 0: {code}", flush=True)
sys.exit(0 if code == 0 else 1)
PYEOF

spawn "$LAB_TMP/peer.log" ip netns exec "$NS_B" "$LAB_PY" -u "$LAB_TMP/peer.py" "$ADDR_B" "$LAB_TMP"
peer_wait_listen 7301
peer_wait_listen 7302
peer_capture wire "(tcp port 7301 or tcp port 7302) and ($PCAP_CTL)"
want_up="$(sha "$LAB_TMP/up.bin") $SIZE"
sinks=0
sources=0
for mode in fork exec; do
	for way in up down; do
		name="$mode + exec cat, socket as its std$([[ $way == up ]] && echo out || echo in)"
		file=$LAB_TMP/up.bin
		[[ $way == up ]] || file=$LAB_TMP/$mode-down.bin
		rc=0
		LAB_TIMEOUT=30 synack_exec "$LAB_PY" -u "$LAB_TMP/client.py" "$mode" "$way" "$ADDR_B" "$file" \
			>"$LAB_TMP/$mode-$way.out" 2>"$LAB_TMP/$mode-$way.err" || rc=$?
		[[ $mode == fork ]] && report_checks "$LAB_TMP/$mode-$way.out" "$rc" "$name" "$name: "
		if [[ $way == up ]]; then
			sinks=$((sinks + 1))
			((rc != 0)) || wait_for 20 eval '(($(grep -c "^SINK " "$LAB_TMP/peer.log") >= sinks))' || true
			got=$(grep '^SINK ' "$LAB_TMP/peer.log" | sed -n "${sinks}p")
			if ((rc == 0)) && [[ $got == "SINK $want_up" ]]; then
				pass "$name: the kernel sink got 10 MiB, SHA-256 equal, then the EOF"
			else
				fail "$name: the kernel sink got 10 MiB, then the EOF" "exit $rc, sink saw '${got#SINK }', want '$want_up'"
				show "$LAB_TMP/$mode-$way.err"
			fi
		else
			sources=$((sources + 1))
			check_transfer "$name: 10 MiB from the kernel source" "$rc" "$file" "$LAB_TMP/down.bin" \
				"$LAB_TMP/$mode-$way.err"
			if ((rc == 0)) && wait_for 20 eval '(($(grep -c "^SOURCE EOF 0$" "$LAB_TMP/peer.log") >= sources))'; then
				pass "$name: the kernel source sees our EOF once cat exits"
			else
				fail "$name: the kernel source sees our EOF once cat exits" "exit $rc; no EOF within 20 s"
				show "$LAB_TMP/peer.log"
			fi
		fi
	done
done
wait_for 15 pcap_has "$LAB_TMP/wire.pcap" "src host $ADDR_A and $PCAP_FIN" 4 || true
peer_capture_stop
check_no_rst "the 4 connections end with our FIN, no RST" "$LAB_TMP/wire.pcap" 4
lab_finish

#!/usr/bin/env bash
# Processes, a python3 program under synack against kernel peers:
#  1. fork: the parent connects and sends 64 KiB, forks; the child sends 512 KiB more on the
#     inherited socket, closes it and exits; the parent, after waitpid(), sends 1 MiB more,
#     half-closes and gets the SHA-256 of all the peer received, equal to parent + child +
#     parent in that order. The child's close is not the last one: it sends no FIN (the parent
#     still sends afterwards); only the parent's last close does. tcpdump on the peer's side:
#     exactly one FIN of ours on that connection, after the last byte, and no RST;
#  2. fork + exec: with a connection open (close-on-exec), the child execs curl under the same
#     preload: curl downloads 1 MiB byte-exact from a kernel http.server (synack's stack and
#     curl's share the interface and address without resetting each other's connections); the
#     parent's connection still works afterwards;
#  3. daemon(): the program connects, sends, calls daemon(); the original process exits 0 at
#     once and the surviving child (another pid) keeps using the connection: it sends 1 MiB
#     more and calls exit() right after its last write, with no close: the peer receives every
#     byte and the FIN (the exit linger), SHA-256 equal.
# First of all, 0. _exit(): the program, alone on the stack, sends 1.06 MiB and calls os._exit()
#     right after its last write: the peer receives every byte and the FIN, as when the kernel
#     closes a dying process's files.
# By hand, LAB_KERNEL_ONLY=1 runs the program on the kernel: every check passes there.
. "$(dirname "$0")/lib.sh"

lab_up

cat >"$LAB_TMP/peer.py" <<'PYEOF'
# 7700: read to end of stream, answer "SHA256HEX COUNT", close; also print that line (for
# clients that cannot read the answer any more).
import hashlib, socket, sys, threading
def sink(c):
    h, n = hashlib.sha256(), 0
    while b := c.recv(65536):
        h.update(b)
        n += len(b)
    line = f"{h.hexdigest()} {n}"
    print(line, flush=True)
    try:
        c.sendall(line.encode())
    except OSError:
        pass
    c.close()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 7700))
ls.listen(16)
while True:
    c, _ = ls.accept()
    threading.Thread(target=sink, args=(c,), daemon=True).start()
PYEOF

cat >"$LAB_TMP/client.py" <<'PYEOF'
import ctypes, errno, hashlib, os, socket, sys, time
mode, host = sys.argv[1], sys.argv[2]
failed = []
def check(name, ok, why=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)
    if not ok:
        failed.append(name)
def digest(s):
    out = b""
    while b := s.recv(200):
        out += b
    return out.decode()
part1, part2, part3 = os.urandom(65536), os.urandom(512 << 10), os.urandom(1 << 20)

if mode == "fork":
    s = socket.create_connection((host, 7700), timeout=20)
    print(f"PORT {s.getsockname()[1]}", flush=True)
    s.sendall(part1)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            s.sendall(part2)
        except OSError as e:
            print(f"child: send on the inherited socket: {e}", flush=True)
            code = 1
        try:
            s.close()
        except OSError as e:
            print(f"child: close: {e}", flush=True)
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    check("the child sends 512 KiB on the inherited socket and closes it, exit 0",
          os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"status {status}")
    try:
        s.sendall(part3)
        s.shutdown(socket.SHUT_WR)
        got = digest(s)
    except OSError as e:
        got = f"{e!r}"
    want = hashlib.sha256(part1 + part2 + part3).hexdigest() + f" {len(part1) + len(part2) + len(part3)}"
    check("the parent sends on after the child's close; the peer got parent + child + parent in order: SHA-256 equal",
          got == want, got)
    s.close()
elif mode == "exec":
    part2 = part3
    s = socket.create_connection((host, 7700), timeout=20)  # python sockets are close-on-exec
    s.sendall(part1)
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp("curl", ["curl", "-sS", "--max-time", "20", "-o", sys.argv[3], sys.argv[4]])
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    check("the exec'd curl (under the same preload) exits 0", os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          f"status {status}")
    s.sendall(part2)
    s.shutdown(socket.SHUT_WR)
    want = hashlib.sha256(part1 + part2).hexdigest() + f" {len(part1) + len(part2)}"
    got = digest(s)
    check("the parent's connection works after the fork + exec: SHA-256 equal", got == want, got)
    s.close()
elif mode == "daemon":
    part2 = part3
    s = socket.create_connection((host, 7700), timeout=20)
    s.sendall(part1)
    open(sys.argv[3], "w").write(hashlib.sha256(part1 + part2).hexdigest() + f" {len(part1) + len(part2)}\n")
    print(f"ORIG {os.getpid()}", flush=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.daemon(1, 1) != 0:
        print(f"FAIL daemon(): errno {ctypes.get_errno()}", flush=True)
        sys.exit(1)
    # The surviving child: our stdout is still the test's file (noclose).
    print(f"CHILD {os.getpid()}", flush=True)
    s.sendall(part2)
    sys.exit(0)  # exit() right after the last write: no close, no shutdown
elif mode == "_exit":
    s = socket.create_connection((host, 7700), timeout=20)
    s.sendall(part1 + part3)
    open(sys.argv[3], "w").write(hashlib.sha256(part1 + part3).hexdigest() + f" {len(part1) + len(part3)}\n")
    os._exit(0)  # _exit() right after the last write: no close, no atexit, no destructors
sys.exit(1 if failed else 0)
PYEOF

spawn "$LAB_TMP/peer.log" ip netns exec "$NS_B" "$LAB_PY" -u "$LAB_TMP/peer.py" "$ADDR_B"
peer_wait_listen 7700

# 0. _exit() with a connection open: the kernel closes the files of a process leaving this way
# too, so the data queued right before still reaches the peer, then the FIN. First, while the
# stack has no other process (nor a keeper) that would close the connection on finding the
# process gone.
lines_before=$(wc -l <"$LAB_TMP/peer.log")
rc=0
LAB_TIMEOUT=30 synack_exec "$LAB_PY" "$LAB_TMP/client.py" _exit "$ADDR_B" "$LAB_TMP/exit.want" \
	>"$LAB_TMP/exit.out" 2>"$LAB_TMP/exit.err" || rc=$?
got=""
for ((i = 0; i < 200 && rc == 0; i++)); do
	got=$(tail -n +$((lines_before + 1)) "$LAB_TMP/peer.log" | head -1)
	[[ -n $got ]] && break
	sleep 0.1
done
if ((rc == 0)) && [[ -f $LAB_TMP/exit.want && $got == "$(cat "$LAB_TMP/exit.want")" ]]; then
	pass "_exit(): the 1 MiB queued right before _exit() (no close) reaches the peer with the FIN (SHA-256 equal)"
else
	fail "_exit(): the data queued right before reaches the peer with the FIN" \
		"exit $rc, peer saw '${got}', want '$(cat "$LAB_TMP/exit.want" 2>/dev/null)'"
	show "$LAB_TMP/exit.err"
fi
# The peer answers that connection with its digest line, which meets a closed connection (an
# RST, as from the kernel after the process's exit): let it end before the capture of part 1.
wait_for 10 bash -c "! ip netns exec '$NS_B' ss -Htn state all 'sport = :7700' | grep -v LISTEN | grep -q ." || true

# 1. fork: the child sends, then the parent. tcpdump on the peer's side is the wire's witness.
peer_capture wire "tcp port 7700"
rc=0
LAB_TIMEOUT=60 synack_exec "$LAB_PY" "$LAB_TMP/client.py" fork "$ADDR_B" >"$LAB_TMP/fork.out" \
	2>"$LAB_TMP/fork.err" || rc=$?
report_checks "$LAB_TMP/fork.out" "$rc" "fork: python3 client under synack"
port=$(sed -nE 's/^PORT ([0-9]+)$/\1/p' "$LAB_TMP/fork.out")
# Our segments on the parent's connection in a capture: every FIN and RST with its sequence
# number relative to the ISN, and the highest data sequence seen (how far the capture goes).
cat >"$LAB_TMP/flags.py" <<'PYEOF'
import socket, struct, sys
data = open(sys.argv[1], "rb").read()
me, port = socket.inet_aton(sys.argv[2]), int(sys.argv[3])
off, isn, top = 24, None, 0
while off + 16 <= len(data):
    incl = struct.unpack_from("<I", data, off + 8)[0]
    pkt = data[off + 16: off + 16 + incl]
    off += 16 + incl
    if len(pkt) < 34 or pkt[12:14] != b"\x08\x00" or pkt[23] != 6 or pkt[26:30] != me:
        continue
    ihl = (pkt[14] & 15) * 4
    tcp = pkt[14 + ihl:]
    sport, seq, flags = struct.unpack_from("!H", tcp, 0)[0], struct.unpack_from("!I", tcp, 4)[0], tcp[13]
    if sport != port:
        continue
    if flags & 0x02:
        isn = seq
    if isn is None:
        continue
    rel = (seq - isn) % 2**32
    plen = struct.unpack_from("!H", pkt, 16)[0] - ihl - (tcp[12] >> 4) * 4
    top = max(top, rel + plen)
    if flags & 0x01:
        # The FIN's own sequence number: after the segment's data when it rides on the last
        # data segment (RFC 9293 §3.4), as it does when the program's shutdown finds the tail
        # still queued.
        print(f"FIN {rel + plen}")
    if flags & 0x04:
        print(f"RST {rel}")
print(f"TOP {top}")
PYEOF
final=$((1 + 65536 + 524288 + 1048576))
# Let tcpdump (-U: each frame written as it is read) take the last frames off its ring: wait
# until the wire capture holds the parent's FIN, at most 15 s.
fin_seen() {
	[[ -n $port ]] && "$LAB_PY" "$LAB_TMP/flags.py" "$LAB_TMP/wire.pcap" "$ADDR_A" "$port" 2>/dev/null |
		grep -qx "FIN $final"
}
wait_for 15 fin_seen || true
peer_capture_stop
"$LAB_PY" "$LAB_TMP/flags.py" "$LAB_TMP/wire.pcap" "$ADDR_A" "${port:-0}" >"$LAB_TMP/flags.txt" 2>&1 || true
top=$(sed -nE 's/^TOP ([0-9]+)$/\1/p' "$LAB_TMP/flags.txt")
ours=$(grep -E '^(FIN|RST)' "$LAB_TMP/flags.txt" | tr '\n' ' ' || true)
rsts=$(pcap_count "$LAB_TMP/wire.pcap" "$PCAP_RST")
name="tcpdump: exactly one FIN of ours, after the last byte, and no RST (the child's close sent none)"
if [[ -z $port ]]; then
	fail "$name" "the client did not print its port"
elif ((${top:-0} < final - 1)); then
	fail "$name" "the capture stops at byte ${top:-0} of $((final - 1))"
	show "$LAB_TMP/flags.txt"
elif [[ $ours == "FIN $final " && $rsts == 0 ]]; then
	pass "$name: FIN at $final"
else
	fail "$name" "our FIN/RST segments: ${ours:-none} (want FIN $final alone); RST in either direction: $rsts"
fi

# 2. fork + exec curl.
mkdir -p "$LAB_TMP/www"
make_file "$LAB_TMP/www/1MiB.bin" 1048576
peer_http_server "$LAB_TMP/www" 7780
rc=0
LAB_TIMEOUT=60 synack_exec "$LAB_PY" "$LAB_TMP/client.py" exec "$ADDR_B" "$LAB_TMP/curl.out" \
	"http://$ADDR_B:7780/1MiB.bin" >"$LAB_TMP/exec.out" 2>"$LAB_TMP/exec.err" || rc=$?
report_checks "$LAB_TMP/exec.out" "$rc" "fork + exec: python3 client under synack"
if [[ -f $LAB_TMP/curl.out && $(sha "$LAB_TMP/curl.out") == "$(sha "$LAB_TMP/www/1MiB.bin")" ]]; then
	pass "curl exec'd from a synack program downloads 1 MiB, SHA-256 equal"
else
	fail "curl exec'd from a synack program downloads 1 MiB" "file missing or different"
	show "$LAB_TMP/exec.err"
fi

# 3. daemon().
lines_before=$(wc -l <"$LAB_TMP/peer.log")
start=$(now_ms)
rc=0
LAB_TIMEOUT=30 synack_exec "$LAB_PY" "$LAB_TMP/client.py" daemon "$ADDR_B" "$LAB_TMP/daemon.want" \
	>"$LAB_TMP/daemon.out" 2>"$LAB_TMP/daemon.err" || rc=$?
took=$(($(now_ms) - start))
if ((rc == 0)) && ((took < 10000)); then
	pass "the process that called daemon() exits 0 at once (${took} ms)"
else
	fail "the process that called daemon() exits 0 at once" "exit $rc after ${took} ms"
	show "$LAB_TMP/daemon.err"
fi
got=""
for ((i = 0; i < 200; i++)); do
	got=$(tail -n +$((lines_before + 1)) "$LAB_TMP/peer.log" | head -1)
	[[ -n $got ]] && break
	sleep 0.1
done
orig=$(sed -nE 's/^ORIG ([0-9]+)$/\1/p' "$LAB_TMP/daemon.out")
child=$(sed -nE 's/^CHILD ([0-9]+)$/\1/p' "$LAB_TMP/daemon.out")
if [[ -n $child && -n $orig && $child != "$orig" ]]; then
	pass "daemon(): a child (pid $child, not $orig) carries on"
else
	fail "daemon(): a child carries on" "orig '${orig}' child '${child}'"
	show "$LAB_TMP/daemon.out"
	show "$LAB_TMP/daemon.err"
fi
if [[ -f $LAB_TMP/daemon.want && $got == "$(cat "$LAB_TMP/daemon.want")" ]]; then
	pass "daemon(): the child's data, queued right before exit(), reaches the peer with the FIN (SHA-256 equal)"
else
	fail "daemon(): the child's data reaches the peer with the FIN" "peer saw '${got}', want '$(cat "$LAB_TMP/daemon.want" 2>/dev/null)'"
	show "$LAB_TMP/daemon.err"
fi
lab_finish

#!/usr/bin/env bash
# examples/fortify_all (built -O2 -D_FORTIFY_SOURCE=2) under synack against a kernel peer:
# every socket entry point of issue 4 item 1 on synack sockets, each result checked (see the
# program's header). First the binary must import the fortified entry points (__read_chk,
# __recv_chk, __recvfrom_chk, __poll_chk, __ppoll_chk, fcntl64), so the run really goes
# through them. It runs twice: plainly, and under strace -f, where no data-path system call
# on an fd that was an offloaded socket may reach the kernel.
. "$(dirname "$0")/lib.sh"

lab_up
PROG=$LAB_BUILD/examples/fortify_all
if [[ ! -x $PROG ]]; then
	fail "fortify_all is built" "$PROG is missing"
	lab_finish
fi
imports=$(nm -D "$PROG" | awk '$1 == "U" { sub(/@.*/, "", $2); print $2 }')
for sym in __read_chk __recv_chk __recvfrom_chk __poll_chk __ppoll_chk fcntl64; do
	if grep -qx "$sym" <<<"$imports"; then
		pass "the fortified binary calls $sym"
	else
		fail "the fortified binary calls $sym" "not imported"
	fi
done

cat >"$LAB_TMP/peer.py" <<'PYEOF'
# 7600: echo until end of stream. 7601: read "PORT\n", connect back to the caller's address
# on PORT, send "hello from kernel", close.
import socket, sys, threading
from labpeer import serve_threads
def echo(c):
    while b := c.recv(65536):
        c.sendall(b)
    c.close()
def callback(c):
    line = b""
    while not line.endswith(b"\n"):
        b = c.recv(16)
        if not b:
            return
        line += b
    back = socket.create_connection((c.getpeername()[0], int(line)), timeout=10)
    back.sendall(b"hello from kernel")
    back.close()
    c.close()
threading.Thread(target=serve_threads, args=(sys.argv[1], 7601, callback), daemon=True).start()
serve_threads(sys.argv[1], 7600, echo)
PYEOF
spawn "$LAB_TMP/peer.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/peer.py" "$ADDR_B"
peer_wait_listen 7600
make_file "$LAB_TMP/data.bin" 1048576

rc=0
LAB_TIMEOUT=90 synack_exec "$PROG" "$ADDR_B" 7600 7601 7602 "$ADDR_A" "$LAB_TMP/data.bin" \
	>"$LAB_TMP/run.out" 2>"$LAB_TMP/run.err" || rc=$?
report_checks "$LAB_TMP/run.out" "$rc" "fortify_all under synack"

rc=0
LAB_TIMEOUT=120 synack_exec strace -f -qq -o "$LAB_TMP/strace.log" \
	-e trace=socket,close,close_range,read,write,readv,writev,sendto,recvfrom,sendmsg,recvmsg,sendmmsg,recvmmsg,sendfile,ioctl,shutdown,poll,ppoll,connect,accept,accept4,bind,listen,getsockname,getpeername,setsockopt,getsockopt \
	"$PROG" "$ADDR_B" 7600 7601 7602 "$ADDR_A" "$LAB_TMP/data.bin" \
	>"$LAB_TMP/strace-run.out" 2>"$LAB_TMP/strace-run.err" || rc=$?
report_checks "$LAB_TMP/strace-run.out" "$rc" "fortify_all under synack" "(strace) "
fds=$(sed -nE 's/^FDS (.*)$/\1/p' "$LAB_TMP/strace-run.out")
if [[ -z $fds ]]; then
	fail "no data-path syscall on an offloaded socket reaches the kernel" "the program did not list its fds"
else
	# A call on one of those fds while it names a TCP socket we offloaded: from its socket()
	# (or dup/accept result) to its close(). Calls the shim makes on the placeholder on
	# purpose are not data path: FIONBIO (kept in step), setsockopt/getsockopt before the
	# offload (pending sockets are the kernel's), fcntl. connect/bind/listen on a still
	# pending socket reach the kernel only when it was handed back to the kernel, which
	# strict mode forbids.
	awk -v fds=" $fds " '
		match($0, /^[0-9]+ +[a-z0-9_]+\(/) {
			line = $0; sub(/^[0-9]+ +/, "", line)
			call = line; sub(/\(.*/, "", call)
			arg = line; sub(/^[a-z0-9_]+\(/, "", arg); sub(/[^0-9].*/, "", arg)
			if (call == "socket") {
				if (/SOCK_STREAM/ && match($0, /= [0-9]+$/)) {
					fd = substr($0, RSTART + 2); if (index(fds, " " fd " ")) live[fd] = 1 }
				next }
			if (call == "close") { delete live[arg]; next }
			if (call == "close_range" || call == "setsockopt" || call == "getsockopt") next
			if (call == "ioctl" && / FIONBIO, /) next
			if (call == "poll" || call == "ppoll") {
				# the kernel must never be asked to poll an offloaded fd
				for (f in live) if (index(line, "{fd=" f ",")) { print; break }
				next }
			if (arg in live) print }' "$LAB_TMP/strace.log" >"$LAB_TMP/leaks"
	check_no_leaks "$LAB_TMP/leaks" "$fds"
fi
lab_finish

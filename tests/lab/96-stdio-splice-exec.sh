#!/usr/bin/env bash
# stdio, splice and the exec/spawn family on synack connections (examples/compat_calls under
# synack, strict, against kernel peers):
#  - fdopen: 200 lines from 1 B to 19 KB written with fprintf and read back through fgets from
#    an echo server, 1 MiB through fwrite/fread, byte-exact; fileno is the socket; fclose
#    closes the socket;
#  - splice: an 8 MiB file spliced file -> pipe -> socket to a kernel sink and socket -> pipe
#    -> file from a kernel source, blocking and non-blocking sockets, SHA-256 equal;
#  - splice/tee/copy_file_range answers on a connected socket (offsets, non-pipes, length 0,
#    empty and full pipes, no reader, after SHUT_WR) equal line for line to the kernel's,
#    run in a reference lab without synack (as 77 and 92);
#  - execl, execlp, execle, execv, execvp, execvpe hand a synack connection left without
#    close-on-exec to the new image: a shell there writes a line on it to the echo server and
#    prints the echo (docs/architecture.md "exec");
#  - posix_spawn, posix_spawnp, system and popen run /bin/true with such a connection: each
#    succeeds and logs that the spawned program gets an unconnected kernel socket there (the
#    connection stays with this process).
. "$(dirname "$0")/lib.sh"

PROG=$LAB_BUILD/examples/compat_calls
SIZE=$((8 * 1024 * 1024))

lab_up
ref_lab_up
if [[ ! -x $PROG ]]; then
	fail "build" "$PROG is missing: build first"
	lab_finish
fi

cat >"$LAB_TMP/peer.py" <<'PYEOF'
# 7501 echo; 7502 sink: each connection's bytes into DIR/upN.bin, renamed upN.done at EOF;
# 7503 source: DIR/down.bin, then close.
import os, socket, sys, threading
import labpeer
B, D = sys.argv[1], sys.argv[2]
n = [0]
lock = threading.Lock()
def echo(c):
    while b := c.recv(65536):
        c.sendall(b)
    c.close()
def sink(c):
    with lock:
        i = n[0]; n[0] += 1
    with open(f"{D}/up{i}.bin", "wb") as f:
        while b := c.recv(1 << 20):
            f.write(b)
    os.rename(f"{D}/up{i}.bin", f"{D}/up{i}.done")
    c.close()
def source(c):
    with open(f"{D}/down.bin", "rb") as f:
        c.sendfile(f)
    c.close()
for port, fn in ((7502, sink), (7503, source)):
    threading.Thread(target=labpeer.serve_threads, args=(B, port, fn), daemon=True).start()
labpeer.serve_threads(B, 7501, echo)
PYEOF
make_file "$LAB_TMP/data.bin" "$SIZE"
cp "$LAB_TMP/data.bin" "$LAB_TMP/down.bin"
want=$(sha "$LAB_TMP/data.bin")
spawn "$LAB_TMP/peer.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/peer.py" "$ADDR_B" "$LAB_TMP"
spawn "$LAB_TMP/ref-peer.log" ip netns exec "$REF_NS_B" "$LAB_PY" "$LAB_TMP/peer.py" "$ADDR_B" "$LAB_TMP/ref"
mkdir -p "$LAB_TMP/ref"
peer_wait_listen 7503

# 1. stdio
rc=0
synack_exec "$PROG" stdio "$ADDR_B" 7501 >"$LAB_TMP/stdio.out" 2>"$LAB_TMP/stdio.err" || rc=$?
report_checks "$LAB_TMP/stdio.out" "$rc" "compat_calls stdio" "fdopen: "

# 2. splice, both directions, blocking and not.
up=0
for mode in "" nonblock; do
	rc=0
	LAB_TIMEOUT=60 synack_exec "$PROG" splice-up "$ADDR_B" 7502 "$LAB_TMP/data.bin" $mode \
		>"$LAB_TMP/up.out" 2>"$LAB_TMP/up.err" || rc=$?
	for ((i = 0; i < 200; i++)); do
		[[ -e $LAB_TMP/up$up.done ]] && break
		sleep 0.05
	done
	if ((rc == 0)) && [[ -e $LAB_TMP/up$up.done && $(sha "$LAB_TMP/up$up.done") == "$want" ]]; then
		pass "splice file -> pipe -> synack socket${mode:+ ($mode)}: 8 MiB, SHA-256 equal"
	else
		fail "splice file -> pipe -> synack socket${mode:+ ($mode)}" "exit $rc, $(stat -c %s "$LAB_TMP/up$up."* 2>/dev/null) of $SIZE bytes"
		show "$LAB_TMP/up.out"
		show "$LAB_TMP/up.err"
	fi
	up=$((up + 1))
	rc=0
	LAB_TIMEOUT=60 synack_exec "$PROG" splice-down "$ADDR_B" 7503 "$LAB_TMP/down.out" $mode \
		>"$LAB_TMP/down.log" 2>"$LAB_TMP/down.err" || rc=$?
	if ((rc == 0)) && [[ $(sha "$LAB_TMP/down.out") == "$want" ]]; then
		pass "splice synack socket -> pipe -> file${mode:+ ($mode)}: 8 MiB, SHA-256 equal"
	else
		fail "splice synack socket -> pipe -> file${mode:+ ($mode)}" "exit $rc, $(stat -c %s "$LAB_TMP/down.out" 2>/dev/null) of $SIZE bytes"
		show "$LAB_TMP/down.log"
		show "$LAB_TMP/down.err"
	fi
done

# 3. splice/tee/copy_file_range answers: kernel reference, then synack.
rc=0
ref_exec "$PROG" splice-errors "$ADDR_B" 7501 >"$LAB_TMP/ref.out" 2>"$LAB_TMP/ref.err" || rc=$?
if ((rc != 0)) || ! grep -q '^-- end$' "$LAB_TMP/ref.out"; then
	fail "splice answers: kernel reference run" "exit $rc"
	show "$LAB_TMP/ref.err"
else
	rc=0
	synack_exec "$PROG" splice-errors "$ADDR_B" 7501 >"$LAB_TMP/sk.out" 2>"$LAB_TMP/sk.err" || rc=$?
	if ((rc == 0)) && diff -u "$LAB_TMP/ref.out" "$LAB_TMP/sk.out" >"$LAB_TMP/diff"; then
		pass "splice/tee/copy_file_range answers equal the kernel's ($(grep -c ' -> ' "$LAB_TMP/sk.out") calls)"
	else
		fail "splice/tee/copy_file_range answers equal the kernel's" "exit $rc"
		show "$LAB_TMP/diff"
		show "$LAB_TMP/sk.err"
	fi
fi

# 4. the exec and spawn family.
for v in execl execlp execle execv execvp execvpe posix_spawn posix_spawnp system popen; do
	rc=0
	synack_exec "$PROG" exec "$v" "$ADDR_B" 7501 >"$LAB_TMP/$v.out" 2>"$LAB_TMP/$v.err" || rc=$?
	case $v in
	exec*)
		if ((rc == 0)) && [[ $(cat "$LAB_TMP/$v.out") == "via-$v" ]]; then
			pass "$v: the new image (sh) writes on the inherited synack connection and reads the echo"
		else
			fail "$v hands the inherited synack connection to the new image" \
				"exit $rc, printed '$(head -c 200 "$LAB_TMP/$v.out")'"
			show "$LAB_TMP/$v.err"
		fi
		;;
	*)
		pattern="$v with 1 synack connection(s) not close-on-exec .*stay with this process"
		if ((rc == 0)) && grep -q "$pattern" "$LAB_TMP/$v.err"; then
			pass "$v runs /bin/true and warns about the inherited synack connection"
		else
			fail "$v warns about the inherited synack connection" "exit $rc"
			show "$LAB_TMP/$v.out"
			show "$LAB_TMP/$v.err"
		fi
		;;
	esac
done
lab_finish

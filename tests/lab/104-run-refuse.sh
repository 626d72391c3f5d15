#!/usr/bin/env bash
# `synack run` refuses, with one line on stderr saying why and how to proceed, exit 2 and
# without running it, a program the preload cannot serve (shim/cli/cli_elf.c):
#  - a statically linked program (gcc -static: no PT_INTERP);
#  - a Go program: a dynamically linked program carrying the .note.go.buildid section the Go
#    toolchain writes (objcopy --add-section; no Go toolchain is needed), found by name in
#    PATH too;
#  - a #! script whose interpreter is the static program, and one run through
#    "#!/usr/bin/env NAME" with the Go one;
# and runs them anyway with --force or SYNACK_FORCE=1 (the static program connects through the
# kernel's TCP, no preload taking effect; the Go stand-in, C underneath, is served by synack); a
# dynamic program and a script for /bin/sh still run.
# Strict mode (SYNACK_STRICT=1) names the socket that would have fallen back and why.
. "$(dirname "$0")/lib.sh"

lab_up
if [[ ! -x $LAB_TOOL ]]; then
	fail "synack is built" "$LAB_TOOL is missing"
	lab_finish
fi
RUN() { timeout -k 3 30 ip netns exec "$NS_A" "$LAB_TOOL" run --iface "$IF_A" --addr "$ADDR_A/24" "$@"; }

# A client that connects to ADDR:PORT and prints what it reads.
cat >"$LAB_TMP/get.c" <<'CEOF'
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	char buf[256];
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("connect");
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	return 0;
}
CEOF
mkdir -p "$LAB_TMP/bin"
if ! gcc -O1 -static -o "$LAB_TMP/bin/get-static" "$LAB_TMP/get.c" 2>"$LAB_TMP/cc.err" ||
	! gcc -O1 -o "$LAB_TMP/bin/get-dyn" "$LAB_TMP/get.c" 2>>"$LAB_TMP/cc.err"; then
	fail "set-up: build the test programs" "$(cat "$LAB_TMP/cc.err")"
	lab_finish
fi
printf 'go1.22 build id\n' >"$LAB_TMP/buildid"
objcopy --add-section .note.go.buildid="$LAB_TMP/buildid" --set-section-flags .note.go.buildid=alloc,readonly \
	"$LAB_TMP/bin/get-dyn" "$LAB_TMP/bin/get-go" 2>/dev/null
printf '#!%s\n' "$LAB_TMP/bin/get-static" >"$LAB_TMP/bin/script-static"
printf '#!/usr/bin/env get-go\n' >"$LAB_TMP/bin/script-go"
printf '#!/bin/sh\nexec %s "$@"\n' "$LAB_TMP/bin/get-dyn" >"$LAB_TMP/bin/script-sh"
chmod +x "$LAB_TMP/bin/"*

# A kernel server on the peer that says hello to each connection.
cat >"$LAB_TMP/hello.py" <<'PYEOF'
import labpeer
def hello(c):
    c.sendall(b'hello\n')
    c.close()
labpeer.serve_threads('10.77.0.2', 7000, hello)
PYEOF
spawn "$LAB_TMP/hello.log" ip netns exec "$NS_B" "$LAB_PY" "$LAB_TMP/hello.py"
peer_wait_listen 7000

# refused NAME PATTERN PROG...: exit 2, nothing on stdout, one line matching PATTERN.
refused() {
	local name=$1 pattern=$2 rc=0
	shift 2
	PATH=$LAB_TMP/bin:$PATH RUN -- "$@" "$ADDR_B" 7000 >"$LAB_TMP/r.out" 2>"$LAB_TMP/r.err" || rc=$?
	if ((rc != 2)); then
		fail "$name" "exit $rc, want 2"
	elif [[ -s $LAB_TMP/r.out ]]; then
		fail "$name" "the program ran: $(cat "$LAB_TMP/r.out")"
	elif (($(wc -l <"$LAB_TMP/r.err") != 1)); then
		fail "$name" "$(wc -l <"$LAB_TMP/r.err") lines on stderr, want 1"
	elif ! grep -qE "^synack: $pattern.* — synack cannot serve it; run it anyway \(on the kernel's TCP\) with --force or SYNACK_FORCE=1\$" "$LAB_TMP/r.err"; then
		fail "$name" "$(cat "$LAB_TMP/r.err")"
	else
		pass "$name: \"$(cat "$LAB_TMP/r.err")\""
		return 0
	fi
	show "$LAB_TMP/r.err"
}
refused "refuses a static program" "$LAB_TMP/bin/get-static is statically linked \(no program interpreter\)" \
	"$LAB_TMP/bin/get-static"
refused "refuses a Go program found in PATH" "$LAB_TMP/bin/get-go is a Go program: Go makes its socket calls itself" \
	get-go
refused "refuses a script for a static program" \
	"$LAB_TMP/bin/script-static is a script for $LAB_TMP/bin/get-static, which is statically linked" \
	"$LAB_TMP/bin/script-static"
refused "refuses an env script for a Go program" \
	"$LAB_TMP/bin/script-go is a script for $LAB_TMP/bin/get-go, which is a Go program" \
	"$LAB_TMP/bin/script-go"

# ran NAME [ENV...] -- PROG...: exit 0 and the peer's hello on stdout.
ran() {
	local name=$1 rc=0 env=()
	shift
	while [[ $1 != -- ]]; do
		env+=("$1")
		shift
	done
	shift
	PATH=$LAB_TMP/bin:$PATH timeout -k 3 30 ip netns exec "$NS_A" env "${env[@]}" "$LAB_TOOL" run \
		--iface "$IF_A" --addr "$ADDR_A/24" "$@" "$ADDR_B" 7000 >"$LAB_TMP/ok.out" 2>"$LAB_TMP/ok.err" || rc=$?
	if ((rc == 0)) && [[ $(cat "$LAB_TMP/ok.out") == hello ]]; then
		pass "$name"
	else
		fail "$name" "exit $rc, stdout '$(cat "$LAB_TMP/ok.out")'"
		show "$LAB_TMP/ok.err"
	fi
}
# The static program forced: the kernel's TCP (veth-sk gets a kernel address for it, as a user
# who forces would need; removed after).
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IF_A"
ran "--force runs the static program (on the kernel's TCP)" -- --force -- "$LAB_TMP/bin/get-static"
ip -n "$NS_A" addr del "$ADDR_A/24" dev "$IF_A"
# The Go stand-in is a C program underneath: forced, the preload serves it.
ran "SYNACK_FORCE=1 runs the Go program" SYNACK_FORCE=1 -- -- get-go
ran "a dynamic program runs under synack" SYNACK_STRICT=1 -- --strict -- "$LAB_TMP/bin/get-dyn"
ran "a /bin/sh script runs under synack" SYNACK_STRICT=1 -- --strict -- "$LAB_TMP/bin/script-sh"

# Strict mode's line says which socket would have fallen back, and why.
rc=0
RUN --strict -- "$LAB_TMP/bin/get-dyn" 127.0.0.1 7000 >/dev/null 2>"$LAB_TMP/strict.err" || rc=$?
if ((rc != 0)) && grep -qE "^synack: error: fd [0-9]+: refused \(SYNACK_STRICT=1\): loopback address$" "$LAB_TMP/strict.err"; then
	pass "strict mode names the socket and why: \"$(head -n1 "$LAB_TMP/strict.err")\""
else
	fail "strict mode's line" "exit $rc: $(cat "$LAB_TMP/strict.err")"
fi
lab_finish

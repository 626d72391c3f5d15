#!/usr/bin/env bash
# TLS over synack, both ways, with openssl s_server -WWW (serves files from its directory over
# HTTPS) and curl -k, 2 MiB byte-exact (SHA-256):
#  1. curl under synack against a kernel openssl s_server in the peer namespace;
#  2. openssl s_server under synack (10.77.0.1) with a kernel curl.
. "$(dirname "$0")/lib.sh"

lab_up
www=$LAB_TMP/www
mkdir -p "$www"
make_file "$www/2MiB.bin" 2097152
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=synack-lab -keyout "$LAB_TMP/key.pem" -out "$LAB_TMP/cert.pem" >"$LAB_TMP/req.log" 2>&1; then
	fail "self-signed certificate" "openssl req failed"
	show "$LAB_TMP/req.log"
	lab_finish
fi

# Poll an https URL with a kernel or synack curl (runner), at most ~15 s.
fetch_ok() {
	local url=$1 out=$2 pid=$3 i
	shift 3
	for ((i = 0; i < 30; i++)); do
		if "$@" curl -ksS --max-time 25 -o "$out" "$url" 2>"$LAB_TMP/curl.err"; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}

# ---- 1. curl under synack, kernel s_server ----
spawn "$LAB_TMP/peer-ssl.log" bash -c "cd '$www' && exec ip netns exec '$NS_B' openssl s_server \
	-accept '$ADDR_B:4433' -cert '$LAB_TMP/cert.pem' -key '$LAB_TMP/key.pem' -WWW -quiet"
peer=$LAB_LAST_PID
synack_curl() { LAB_TIMEOUT=30 synack_exec "$@"; }
ok=0
fetch_ok "https://$ADDR_B:4433/2MiB.bin" "$LAB_TMP/c.out" "$peer" synack_curl || ok=1
check_transfer "curl -k https under synack against a kernel openssl s_server, 2 MiB" "$ok" \
	"$LAB_TMP/c.out" "$www/2MiB.bin" "$LAB_TMP/curl.err" "$LAB_TMP/peer-ssl.log"

# ---- 2. s_server under synack, kernel curl ----
# synack_exec is a shell function: run it in a background subshell here.
(cd "$www" && LAB_TIMEOUT=90 synack_exec openssl s_server -accept "$ADDR_A:4443" \
	-cert "$LAB_TMP/cert.pem" -key "$LAB_TMP/key.pem" -WWW -quiet) >"$LAB_TMP/ssl.log" 2>&1 &
server=$!
LAB_PIDS+=("$server")
ok=0
fetch_ok "https://$ADDR_A:4443/2MiB.bin" "$LAB_TMP/s.out" "$server" peer_exec timeout -k 3 30 || ok=1
check_transfer "kernel curl -k https against openssl s_server under synack, 2 MiB" "$ok" \
	"$LAB_TMP/s.out" "$www/2MiB.bin" "$LAB_TMP/curl.err" "$LAB_TMP/ssl.log"
lab_finish

#!/usr/bin/env bash
# Sharing the kernel's address (docs/deployment.md, option 3): veth-sk holds 10.77.0.1 in the
# kernel too, the kernel's ephemeral ports are moved below synack's (20000-32767), and the
# nftables table "synack" of the guide drops, before the kernel sees them, the segments to
# synack's ports (8080 and 32768-60999), which synack's packet socket has read already.
#  - synack check calls the set-up good;
#  - a python3 http.server under synack on port 8080 serves the peer, while the kernel's own
#    curl, from the same address, downloads 4 MiB three times intact: synack, which reads
#    every frame to the address, does not reset the kernel's connections (shim/socket/kernel_addr.c);
#  - curl under synack downloads 4 MiB from the peer meanwhile;
#  - the rule dropped the segments to synack's ports;
#  - without the rule, curl under synack fails: the kernel resets its connection (what
#    synack check reports as a problem).
. "$(dirname "$0")/lib.sh"

lab_up
if [[ ! -x $LAB_TOOL ]]; then
	fail "synack is built" "$LAB_TOOL is missing"
	lab_finish
fi

ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IF_A"
ip netns exec "$NS_A" sysctl -qw net.ipv4.ip_local_port_range="20000 32767"
rule() {
	ip netns exec "$NS_A" nft -f - <<EOF
table inet synack {
	chain prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifname "$IF_A" ip daddr $ADDR_A tcp dport { 8080, 32768-60999 } counter drop
	}
}
EOF
}
rule

rc=0
timeout 20 ip netns exec "$NS_A" "$LAB_TOOL" check --iface "$IF_A" --addr "$ADDR_A/24" >"$LAB_TMP/check.out" 2>&1 || rc=$?
if ((rc == 0)) && grep -q "^ok: the kernel also holds $ADDR_A (on $IF_A), and the nftables table \"synack\"" "$LAB_TMP/check.out"; then
	pass "synack check calls the shared set-up good"
else
	fail "synack check on the shared set-up" "exit $rc"
	show "$LAB_TMP/check.out"
fi

srv=$LAB_TMP/srv
mkdir -p "$srv" "$LAB_TMP/www"
make_file "$srv/f" 4194304
make_file "$LAB_TMP/www/w" 1048576
peer_http_server "$srv" 8000 HTTP/1.0
spawn "$LAB_TMP/http.log" ip netns exec "$NS_A" env SYNACK_STRICT=1 "$LAB_TOOL" run --iface "$IF_A" \
	--addr "$ADDR_A/24" --strict -- "$LAB_PY" -m http.server -b "$ADDR_A" -d "$LAB_TMP/www" 8080
srv_pid=$LAB_LAST_PID
synack_wait_http "http.server under synack on the shared address" "$srv_pid" "http://$ADDR_A:8080/w" \
	"$LAB_TMP/w" "$LAB_TMP/http.log"
check_sha "http.server under synack on the shared address serves the peer" "$LAB_TMP/w" "$LAB_TMP/www/w"

for i in 1 2 3; do
	rc=0
	timeout -k 3 30 ip netns exec "$NS_A" curl -sS --max-time 25 -o "$LAB_TMP/k$i" "http://$ADDR_B:8000/f" \
		2>"$LAB_TMP/k$i.err" || rc=$?
	check_transfer "the kernel's curl $i from the shared address, synack running" "$rc" "$LAB_TMP/k$i" "$srv/f" \
		"$LAB_TMP/k$i.err"
done
rc=0
synack_exec curl -sS --max-time 25 -o "$LAB_TMP/s" "http://$ADDR_B:8000/f" 2>"$LAB_TMP/s.err" || rc=$?
check_transfer "curl under synack on the shared address" "$rc" "$LAB_TMP/s" "$srv/f" "$LAB_TMP/s.err"
drops=$(ip netns exec "$NS_A" nft list chain inet synack prerouting | sed -nE 's/.*counter packets ([0-9]+) .*/\1/p')
if ((${drops:-0} > 0)); then
	pass "the rule kept $drops segments to synack's ports from the kernel"
else
	fail "the rule's counter" "${drops:-no} packets"
fi
kill_wait() { kill "$1" 2>/dev/null || true; timeout 5 tail --pid="$1" -f /dev/null || true; }
kill_wait "$srv_pid"

ip netns exec "$NS_A" nft delete table inet synack
rc=0
synack_exec curl -sS --max-time 10 -o "$LAB_TMP/n" "http://$ADDR_B:8000/f" 2>"$LAB_TMP/n.err" || rc=$?
# The kernel answers the peer's SYN,ACK with an RST: refused or reset, at once.
if ((rc == 7 || rc == 56)); then
	pass "without the rule curl under synack fails: \"$(head -n1 "$LAB_TMP/n.err")\""
else
	fail "without the rule" "curl exited $rc: $(head -n3 "$LAB_TMP/n.err")"
fi
lab_finish

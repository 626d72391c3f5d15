#!/usr/bin/env bash
# `synack iface add NAME --parent IF` / `synack iface del NAME` (shim/cli/cli_iface.c, rtnetlink):
#  - add makes a macvlan child of the lab's veth-sk, up, with a MAC of its own and no kernel
#    IPv4 address, IPv6 off and arp_ignore 8; synack check calls it good;
#  - curl under synack on the child downloads from the peer byte-exact, and the peer's
#    neighbour entry for synack's address is the child's MAC (not veth-sk's);
#  - a python3 http.server under synack on the child serves the peer;
#  - the refusals: a name that exists, a parent that does not, del of an interface that is not
#    a macvlan/ipvlan child (veth-sk), add or del without CAP_NET_ADMIN;
#  - del removes it, and a second del says it does not exist.
. "$(dirname "$0")/lib.sh"

lab_up
if [[ ! -x $LAB_TOOL ]]; then
	fail "synack is built" "$LAB_TOOL is missing"
	lab_finish
fi
CHILD=sk0
TOOL() { timeout -k 3 20 ip netns exec "$NS_A" "$LAB_TOOL" "$@"; }

# want_refusal NAME RC ERR PATTERN: a refusal is exit RC with PATTERN on stderr.
want_refusal() {
	if (($2 == 0)); then
		fail "$1" "exit 0"
	elif ! grep -qE "$4" "$3"; then
		fail "$1" "stderr: $(cat "$3")"
	else
		pass "$1: exit $2, \"$(cat "$3")\""
	fi
}

rc=0
TOOL iface add "$CHILD" --parent "$IF_A" >"$LAB_TMP/add.out" 2>&1 || rc=$?
mac=$(ip -n "$NS_A" -br link show dev "$CHILD" 2>/dev/null | awk '{print $3}')
parent_mac=$(ip -n "$NS_A" -br link show dev "$IF_A" | awk '{print $3}')
kind=$(ip -n "$NS_A" -d link show dev "$CHILD" 2>/dev/null | grep -o "macvlan mode bridge" || true)
if ((rc != 0)) || [[ -z $mac ]]; then
	fail "iface add makes a macvlan child" "exit $rc: $(cat "$LAB_TMP/add.out")"
	lab_finish
fi
if [[ -n $kind && $mac != "$parent_mac" && -z $(ip -n "$NS_A" -4 addr show dev "$CHILD") &&
	$(ip netns exec "$NS_A" sysctl -n "net.ipv6.conf.$CHILD.disable_ipv6") == 1 &&
	$(ip netns exec "$NS_A" sysctl -n "net.ipv4.conf.$CHILD.arp_ignore") == 8 ]] &&
	ip -n "$NS_A" link show dev "$CHILD" | grep -q "state UP"; then
	pass "iface add: $kind child of $IF_A, up, its own MAC $mac (parent $parent_mac), no IPv4, IPv6 off, arp_ignore 8"
else
	fail "iface add: the child's settings" "$(ip -n "$NS_A" -d addr show dev "$CHILD")"
fi
if TOOL check --iface "$CHILD" --addr "$ADDR_A/24" >"$LAB_TMP/check.out" 2>&1; then
	pass "synack check calls $CHILD good"
else
	fail "synack check on $CHILD" "exit non-zero"
	show "$LAB_TMP/check.out"
fi

# curl under synack on the child.
srv=$LAB_TMP/srv
mkdir -p "$srv"
make_file "$srv/f" 1048576
peer_http_server "$srv" 8000 HTTP/1.0
rc=0
timeout -k 3 30 ip netns exec "$NS_A" env SYNACK_STRICT=1 "$LAB_TOOL" run --iface "$CHILD" --addr "$ADDR_A/24" \
	--strict -- curl -sS --max-time 25 -o "$LAB_TMP/f" "http://$ADDR_B:8000/f" 2>"$LAB_TMP/curl.err" || rc=$?
check_transfer "curl under synack on $CHILD downloads 1 MiB" "$rc" "$LAB_TMP/f" "$srv/f" "$LAB_TMP/curl.err"
neigh=$(peer_exec ip neigh show "$ADDR_A" | awk '{print $5}')
if [[ $neigh == "$mac" ]]; then
	pass "the peer reaches $ADDR_A at $CHILD's MAC $mac"
else
	fail "the peer's neighbour entry" "$ADDR_A is at '${neigh:-none}', want $mac"
fi

# a server under synack on the child.
mkdir -p "$LAB_TMP/www"
echo "served from $CHILD" >"$LAB_TMP/www/s.txt"
spawn "$LAB_TMP/http.log" ip netns exec "$NS_A" env SYNACK_STRICT=1 "$LAB_TOOL" run --iface "$CHILD" \
	--addr "$ADDR_A/24" --strict -- "$LAB_PY" -m http.server -b "$ADDR_A" -d "$LAB_TMP/www" 8080
srv_pid=$LAB_LAST_PID
synack_wait_http "http.server under synack on $CHILD" "$srv_pid" "http://$ADDR_A:8080/s.txt" \
	"$LAB_TMP/s.txt" "$LAB_TMP/http.log"
check_sha "http.server under synack on $CHILD serves the peer" "$LAB_TMP/s.txt" "$LAB_TMP/www/s.txt"
kill "$srv_pid" 2>/dev/null || true

# Refusals.
rc=0
TOOL iface add "$CHILD" --parent "$IF_A" >/dev/null 2>"$LAB_TMP/e1" || rc=$?
want_refusal "iface add of an existing name" "$rc" "$LAB_TMP/e1" "^synack: iface: $CHILD exists already"
rc=0
TOOL iface add sk1 --parent nosuch0 >/dev/null 2>"$LAB_TMP/e2" || rc=$?
want_refusal "iface add with a missing parent" "$rc" "$LAB_TMP/e2" "^synack: iface: parent nosuch0 does not exist"
rc=0
TOOL iface del "$IF_A" >/dev/null 2>"$LAB_TMP/e3" || rc=$?
want_refusal "iface del of a veth" "$rc" "$LAB_TMP/e3" "^synack: iface: $IF_A is not a macvlan or ipvlan child \(its kind: veth\)"
if ip -n "$NS_A" link show dev "$IF_A" >/dev/null 2>&1; then
	pass "the refused del left $IF_A in place"
else
	fail "the refused del left $IF_A in place" "it is gone"
fi
rc=0
timeout 20 ip netns exec "$NS_A" setpriv --reuid=nobody --regid=nogroup --clear-groups "$LAB_TOOL" iface add sk2 \
	--parent "$IF_A" >/dev/null 2>"$LAB_TMP/e4" || rc=$?
want_refusal "iface add without CAP_NET_ADMIN" "$rc" "$LAB_TMP/e4" "^synack: iface: creating sk2 needs CAP_NET_ADMIN"
rc=0
timeout 20 ip netns exec "$NS_A" setpriv --reuid=nobody --regid=nogroup --clear-groups "$LAB_TOOL" iface del \
	"$CHILD" >/dev/null 2>"$LAB_TMP/e5" || rc=$?
want_refusal "iface del without CAP_NET_ADMIN" "$rc" "$LAB_TMP/e5" "^synack: iface: removing $CHILD needs CAP_NET_ADMIN"

# del
rc=0
TOOL iface del "$CHILD" >"$LAB_TMP/del.out" 2>&1 || rc=$?
if ((rc == 0)) && ! ip -n "$NS_A" link show dev "$CHILD" >/dev/null 2>&1; then
	pass "iface del removes $CHILD: \"$(cat "$LAB_TMP/del.out")\""
else
	fail "iface del" "exit $rc: $(cat "$LAB_TMP/del.out"); $(ip -n "$NS_A" -br link)"
fi
rc=0
TOOL iface del "$CHILD" >/dev/null 2>"$LAB_TMP/e6" || rc=$?
want_refusal "a second del" "$rc" "$LAB_TMP/e6" "^synack: iface: $CHILD does not exist"
lab_finish

#!/usr/bin/env bash
# `synack check` (shim/cli/cli_check.c): exit 0 and only "ok:" lines in a good lab; exit 1 and the
# right "problem: ... — fix: ..." line for
#  - an interface that does not exist;
#  - the kernel holding synack's address (ip addr add on veth-sk), which the nftables table
#    "synack" of docs/deployment.md turns back into "ok";
#  - no CAP_NET_RAW: as user nobody, and as root without the capability (setpriv);
#  - a netdev egress chain on the interface;
#  - a bad setting (an address without its prefix length), in the library's own words;
# and the capability fix it gives works (a copy of the tool with cap_net_raw+ep: nobody's check
# is good and nobody's curl runs under synack), as does a program under synack in the lab the
# check called good.
. "$(dirname "$0")/lib.sh"

lab_up
if [[ ! -x $LAB_TOOL ]]; then
	fail "synack is built" "$LAB_TOOL is missing"
	lab_finish
fi

# check NAME WANT_RC PATTERN [WRAPPER...] -- ARGS...: run synack check in NS_A (through WRAPPER,
# e.g. setpriv), want exit WANT_RC and a line matching PATTERN (for 0: no "problem:" line).
check() {
	local name=$1 want=$2 pattern=$3 rc=0 wrap=()
	shift 3
	while [[ $1 != -- ]]; do
		wrap+=("$1")
		shift
	done
	shift
	timeout -k 3 20 ip netns exec "$NS_A" "${wrap[@]}" "$LAB_TOOL" check "$@" >"$LAB_TMP/check.out" \
		2>&1 || rc=$?
	if ((rc != want)); then
		fail "$name" "exit $rc, want $want"
		show "$LAB_TMP/check.out"
	elif ((want == 0)) && grep -q "^problem:" "$LAB_TMP/check.out"; then
		fail "$name" "exit 0 but a problem line"
		show "$LAB_TMP/check.out"
	elif ! grep -qE "$pattern" "$LAB_TMP/check.out"; then
		fail "$name" "no line matches /$pattern/"
		show "$LAB_TMP/check.out"
	elif grep -vqE "^(ok|problem): " "$LAB_TMP/check.out"; then
		fail "$name" "a line is neither ok: nor problem:"
		show "$LAB_TMP/check.out"
	else
		pass "$name: exit $rc, \"$(grep -E "$pattern" "$LAB_TMP/check.out" | head -n1)\""
	fi
}

GOOD=(--iface "$IF_A" --addr "$ADDR_A/24")

check "a good lab" 0 "^ok: CAP_NET_RAW: a packet socket opens and binds to $IF_A$" -- "${GOOD[@]}"
check "a good lab from the environment" 0 "^ok: settings: interface $IF_A, address $ADDR_A/24$" \
	env SYNACK_IFACE="$IF_A" SYNACK_ADDR="$ADDR_A/24" --

check "a missing interface" 1 \
	"^problem: interface nosuch0 does not exist in this network namespace — fix: .*synack iface add nosuch0 --parent IF" \
	-- --iface nosuch0 --addr "$ADDR_A/24"

ip -n "$NS_A" addr add "$ADDR_A/24" dev "$IF_A"
check "the kernel holds synack's address" 1 \
	"^problem: the kernel also holds $ADDR_A \(on $IF_A\): .* — fix: ip addr del $ADDR_A/24 dev $IF_A" \
	-- "${GOOD[@]}"
ip netns exec "$NS_A" nft add table inet synack
check "the kernel holds the address, the nftables table synack keeps it out of the way" 0 \
	"^ok: the kernel also holds $ADDR_A \(on $IF_A\), and the nftables table \"synack\"" \
	-- "${GOOD[@]}"
ip netns exec "$NS_A" nft delete table inet synack
ip -n "$NS_A" addr del "$ADDR_A/24" dev "$IF_A"

check "no CAP_NET_RAW (user nobody)" 1 "^problem: no CAP_NET_RAW: .* — fix: run as root, or give" \
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "${GOOD[@]}"
# root whose bounding set lacks it: the exec'ed tool has every capability but that one
check "no CAP_NET_RAW (root without it)" 1 "^problem: no CAP_NET_RAW: " \
	setpriv --bounding-set=-net_raw -- "${GOOD[@]}"

# The fix it gives works: a copy of the tool (with its library) given the capability serves
# an unprivileged user's program.
chmod 711 "$LAB_TMP"
mkdir -m 755 "$LAB_TMP/capbin"
cp "$LAB_TOOL" "$LAB_LIB" "$LAB_TMP/capbin/"
if ! setcap cap_net_raw+ep "$LAB_TMP/capbin/synack" 2>"$LAB_TMP/setcap.err"; then
	fail "the fix: setcap cap_net_raw+ep on the tool" "$(cat "$LAB_TMP/setcap.err")"
else
	LAB_TOOL=$LAB_TMP/capbin/synack check "the fix: nobody with a tool that has CAP_NET_RAW" 0 \
		"^ok: CAP_NET_RAW: a packet socket opens and binds to $IF_A$" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- "${GOOD[@]}"
fi
ip netns exec "$NS_A" nft add table netdev shaper
ip netns exec "$NS_A" nft add chain netdev shaper out "{ type filter hook egress device \"$IF_A\" priority 0; }"
check "a netdev egress chain on the interface" 1 \
	"^problem: nftables chain netdev shaper out filters $IF_A's egress" -- "${GOOD[@]}"
ip netns exec "$NS_A" nft delete table netdev shaper

check "a bad setting, in the library's words" 1 \
	"^problem: settings: SYNACK_ADDR='$ADDR_A' has no prefix length — fix: use CIDR form" \
	-- --iface "$IF_A" --addr "$ADDR_A"

# What the check called good works, for root and for nobody through the tool with the
# capability.
srv=$LAB_TMP/srv
mkdir -p "$srv"
echo "checked" >"$srv/c.txt"
peer_http_server "$srv" 8000 HTTP/1.0
rc=0
synack_exec curl -sS --max-time 20 -o "$LAB_TMP/c.txt" "http://$ADDR_B:8000/c.txt" 2>"$LAB_TMP/curl.err" || rc=$?
check_transfer "curl under synack in the lab the check called good" "$rc" "$LAB_TMP/c.txt" "$srv/c.txt" \
	"$LAB_TMP/curl.err"
rc=0
timeout -k 3 30 ip netns exec "$NS_A" setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$LAB_TMP/capbin/synack" run --iface "$IF_A" --addr "$ADDR_A/24" --strict -- \
	curl -sS --max-time 20 "http://$ADDR_B:8000/c.txt" >"$LAB_TMP/nobody.txt" 2>"$LAB_TMP/nobody.err" || rc=$?
check_transfer "curl as nobody under the tool with CAP_NET_RAW (the packet socket handed down)" "$rc" \
	"$LAB_TMP/nobody.txt" "$srv/c.txt" "$LAB_TMP/nobody.err"
lab_finish

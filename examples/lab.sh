#!/usr/bin/env bash
# synack lab: two network namespaces joined by a veth pair.
#
#   NS_A (default sk-a)                      NS_B (default sk-b)
#   veth-sk  -- no kernel IPv4 address  <==> veth-peer 10.77.0.2/24 (kernel)
#            synack owns 10.77.0.1/24
#
# Usage: examples/lab.sh up|down|status
#
# Environment (all optional):
#   SYNACK_LAB_PREFIX      namespace prefix: namespaces are PREFIX-a and PREFIX-b (default sk)
#   SYNACK_LAB_NS_A        synack-side namespace   (default $SYNACK_LAB_PREFIX-a)
#   SYNACK_LAB_NS_B        kernel-peer namespace   (default $SYNACK_LAB_PREFIX-b)
#   SYNACK_LAB_IFACE       synack-side interface   (default veth-sk)
#   SYNACK_LAB_PEER_IFACE  peer-side interface     (default veth-peer)
#   SYNACK_LAB_ADDR        the address synack uses (default 10.77.0.1/24; never given to the kernel)
#   SYNACK_LAB_PEER_ADDR   the peer's kernel address (default 10.77.0.2/24)
#   SYNACK_LAB_PEER_QUICKACK=1  the peer ACKs every segment at once (route "quickack 1"; default 0:
#                          a stock kernel with delayed ACKs). See the comment at the route below.
#   SYNACK_LAB_QUIET=1     `up` prints nothing but errors
#
# The veth ends are created directly inside their namespaces, so interface names never clash in
# the root namespace: several labs (one per test) may exist at once, each with its own prefix and
# the same interface names and addresses. Addresses must lie in 10.77.0.0/16.
#
# See docs/lab.md.
set -euo pipefail

PREFIX=${SYNACK_LAB_PREFIX:-sk}
NS_A=${SYNACK_LAB_NS_A:-$PREFIX-a}
NS_B=${SYNACK_LAB_NS_B:-$PREFIX-b}
IF_A=${SYNACK_LAB_IFACE:-veth-sk}
IF_B=${SYNACK_LAB_PEER_IFACE:-veth-peer}
ADDR_A=${SYNACK_LAB_ADDR:-10.77.0.1/24}
ADDR_B=${SYNACK_LAB_PEER_ADDR:-10.77.0.2/24}
# Fixed, locally administered MACs: pcaps and ARP caches read the same in every run.
MAC_A=02:77:00:00:00:01
MAC_B=02:77:00:00:00:02

die() {
	echo "lab.sh: $*" >&2
	exit 1
}

check_config() {
	[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces need CAP_SYS_ADMIN)"
	command -v ip >/dev/null || die "'ip' not found: apt-get install iproute2"
	local a
	for a in "$ADDR_A" "$ADDR_B"; do
		[[ $a =~ ^10\.77\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]] ||
			die "address '$a' is not in 10.77.0.0/16 (CIDR form 10.77.X.Y/N required)"
		((BASH_REMATCH[1] <= 255 && BASH_REMATCH[2] <= 255 && BASH_REMATCH[3] >= 16 &&
			BASH_REMATCH[3] <= 30)) || die "address '$a' is not a valid host address in 10.77.0.0/16"
	done
	[[ ${ADDR_A%/*} != "${ADDR_B%/*}" ]] || die "SYNACK_LAB_ADDR and SYNACK_LAB_PEER_ADDR are equal"
	((${#IF_A} <= 15 && ${#IF_B} <= 15)) || die "interface names must be at most 15 characters"
	[[ $NS_A != "$NS_B" ]] || die "the two namespaces must differ"
}

# 10.77.0.2/24 -> 10.77.0.0/24
prefix_of() {
	local ip=${1%/*} len=${1#*/} a b c d n
	IFS=. read -r a b c d <<<"$ip"
	n=$(((a << 24 | b << 16 | c << 8 | d) & ((0xffffffff << (32 - len)) & 0xffffffff)))
	echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))/$len"
}

ns_exists() { [[ -e /run/netns/$1 ]]; }
link_in_ns() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }

# Kill every process still running inside a lab namespace (servers a test or the demo left
# behind), then delete the namespace; its veth end goes with it (and the peer end with that).
ns_delete() {
	local ns=$1 pids
	ns_exists "$ns" || return 0
	pids=$(ip netns pids "$ns" 2>/dev/null || true)
	if [[ -n $pids ]]; then
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null || true
		sleep 0.3
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		# shellcheck disable=SC2086
		[[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
	fi
	ip netns delete "$ns" 2>/dev/null || true
	rm -rf "/etc/netns/$ns"
}

lab_down() {
	ns_delete "$NS_A"
	ns_delete "$NS_B"
}

# Name resolution inside the lab never leaves it: `ip netns exec` bind-mounts /etc/netns/NS/*
# over /etc/*. The resolv.conf has no nameserver (glibc then asks 127.0.0.1 inside the
# namespace, which refuses at once) and the hosts file names the two lab hosts. Programs that
# do reverse lookups (python's http.server calls getfqdn on its bind address) answer from it.
ns_etc() {
	local ns=$1
	mkdir -p "/etc/netns/$ns"
	printf '# synack lab %s: no resolver on purpose; see docs/lab.md\noptions timeout:1 attempts:1\n' \
		"$ns" >"/etc/netns/$ns/resolv.conf"
	printf '127.0.0.1 localhost\n%s synack-a\n%s synack-b\n' "${ADDR_A%/*}" "${ADDR_B%/*}" \
		>"/etc/netns/$ns/hosts"
}

lab_up() {
	local created=0
	# Any failure below tears the whole lab down again: never leave half a lab behind.
	trap 'rc=$?; if ((rc != 0)); then echo "lab.sh: up failed; cleaning up" >&2; lab_down; fi' EXIT

	ns_exists "$NS_A" || { ip netns add "$NS_A" && created=1; }
	ns_exists "$NS_B" || { ip netns add "$NS_B" && created=1; }

	# The pair must exist with one end in each namespace. A half pair (one namespace recreated)
	# is deleted and made again.
	if ! link_in_ns "$NS_A" "$IF_A" || ! link_in_ns "$NS_B" "$IF_B"; then
		ip -n "$NS_A" link delete "$IF_A" 2>/dev/null || true
		ip -n "$NS_B" link delete "$IF_B" 2>/dev/null || true
		ip link add "$IF_A" netns "$NS_A" address "$MAC_A" type veth \
			peer name "$IF_B" netns "$NS_B" address "$MAC_B"
		created=1
	fi

	ns_etc "$NS_A"
	ns_etc "$NS_B"

	# --- synack side -------------------------------------------------------------------
	ip -n "$NS_A" link set lo up
	# No IPv6: the kernel would send router solicitations and neighbour discovery out of the
	# interface synack owns (noise in pcaps, frames synack must drop).
	ip netns exec "$NS_A" sysctl -qw "net.ipv6.conf.$IF_A.disable_ipv6=1"
	# No kernel IPv4 address: synack owns 10.77.0.1 and answers ARP for it itself. The kernel
	# drops IPv4 to an address it does not own (no forwarding), so it never answers our peer
	# with an RST or an ICMP error. Make sure no address is left from a by-hand experiment.
	ip -n "$NS_A" -4 addr flush dev "$IF_A"
	ip -n "$NS_A" link set "$IF_A" up

	# --- kernel peer side --------------------------------------------------------------
	ip -n "$NS_B" link set lo up
	ip netns exec "$NS_B" sysctl -qw "net.ipv6.conf.$IF_B.disable_ipv6=1"
	ip -n "$NS_B" addr replace "$ADDR_B" dev "$IF_B"
	ip -n "$NS_B" link set "$IF_B" up
	# Pin the peer's congestion control to cubic. This kernel's default is bbr; Debian's stock
	# kernel (and most peers synack will meet) default to cubic. BBR paces its sends and probes
	# the bottleneck bandwidth: over a zero-delay veth against a userspace receiver its rates
	# and loss recovery differ run to run and from a normal host's, which makes transfer times,
	# retransmission counts and bench numbers incomparable. Cubic (loss-based, RFC 9438) is the
	# standard Linux behaviour. The namespace sysctl net.ipv4.tcp_congestion_control cannot be
	# used: outside the initial namespace it only accepts algorithms listed in the host-wide
	# tcp_allowed_congestion_control (here: reno bbr), and changing that would touch the host.
	# A per-route "congctl lock" applies to every connection over the route, active or passive.
	#
	# quickack (opt-in, SYNACK_LAB_PEER_QUICKACK=1): a Linux peer that receives our FIN enters
	# delayed-ACK ("pingpong") mode, and when its application closes within the delayed-ACK
	# time (python's http.server does, within ~100 µs) the ACK of our FIN rides on its own
	# FIN: we then go FIN_WAIT_1 -> TIME_WAIT directly, which is correct but hides FIN_WAIT_2.
	# The demo and the state-timeline test ask the peer to ACK at once so the timeline shows
	# every state of an active close.
	local qa=()
	[[ ${SYNACK_LAB_PEER_QUICKACK:-0} == 1 ]] && qa=(quickack 1)
	ip -n "$NS_B" route replace "$(prefix_of "$ADDR_B")" dev "$IF_B" proto kernel scope link \
		src "${ADDR_B%/*}" congctl lock cubic "${qa[@]}"

	trap - EXIT
	if [[ ${SYNACK_LAB_QUIET:-0} != 1 ]]; then
		if ((created)); then
			echo "lab up: $NS_A/$IF_A (synack ${ADDR_A}) <-> $NS_B/$IF_B (kernel ${ADDR_B})"
		else
			echo "lab already up (configuration re-applied): $NS_A/$IF_A <-> $NS_B/$IF_B"
		fi
		echo "Run programs under synack in $NS_A with:"
		echo "  export SYNACK_IFACE=$IF_A SYNACK_ADDR=$ADDR_A"
		echo "  ip netns exec $NS_A build/shim/synack run --iface $IF_A --addr $ADDR_A -- PROGRAM ARGS"
		echo "The kernel peer: ip netns exec $NS_B PROGRAM ARGS  (address ${ADDR_B%/*})"
	fi
}

lab_status() {
	local ok=1 ns
	for ns in "$NS_A" "$NS_B"; do
		if ns_exists "$ns"; then
			echo "namespace $ns: present"
			ip -n "$ns" -br link show 2>/dev/null | sed 's/^/  /'
			ip -n "$ns" -br -4 addr show 2>/dev/null | sed 's/^/  /'
		else
			echo "namespace $ns: absent"
			ok=0
		fi
	done
	if ((ok)) && link_in_ns "$NS_A" "$IF_A" && link_in_ns "$NS_B" "$IF_B"; then
		echo "peer route: $(ip -n "$NS_B" route show dev "$IF_B" | head -1)"
		echo "lab is up: SYNACK_IFACE=$IF_A SYNACK_ADDR=$ADDR_A (peer ${ADDR_B%/*} in $NS_B)"
		return 0
	fi
	echo "lab is down (or incomplete: run '$0 up')"
	return 1
}

case ${1:-} in
up)
	check_config
	lab_up
	;;
down)
	check_config
	lab_down
	[[ ${SYNACK_LAB_QUIET:-0} == 1 ]] || echo "lab down: $NS_A $NS_B"
	;;
status)
	check_config
	lab_status
	;;
*)
	echo "usage: $0 up|down|status   (see docs/lab.md)" >&2
	exit 2
	;;
esac

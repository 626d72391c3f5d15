#!/usr/bin/env bash
# TCP super-frames (PACKET_VNET_HDR, docs/data-path.md "Super-frames") against a kernel peer:
#  1. `nc -N` under synack uploads 100 MiB to a kernel `nc -l`: SHA-256 equal, and the frames that
#     crossed the veth were super-frames: the peer interface's received bytes per packet are far
#     above a 1514-byte frame (veth hands GSO packets on whole, a kernel sender's look the same);
#  2. the same with SYNACK_OFFLOAD=0 (20 MiB): SHA-256 equal, and every frame fitted the MTU, which
#     shows the counter tells the two apart and that the fallback still works;
#  3. 100 MiB at 3% random loss each way (nftables numgen on the peer). One drop must be one
#     segment: TSO off on synack's veth end, so the kernel's GSO cuts synack's super-frames before
#     the veth (as a NIC's TSO would on a wire), and gso_max_segs 1 on the peer's end for its own
#     segments. SHA-256 equal, the drop counters moved, the peer received MSS-sized packets.
#  4. gso_max_segs 1 on synack's end (an interface that takes no super-frames, as `ip link` can
#     say): synack honours it as the kernel's TCP does, every frame fits the MTU, SHA-256 equal.
# synack's own log (SYNACK_LOG=info) must say the offloads were granted in 1 and 3.
. "$(dirname "$0")/lib.sh"

BIG=$((100 * 1024 * 1024))
SMALL=$((20 * 1024 * 1024))
BOUND=150

lab_up
make_file "$LAB_TMP/big.bin" "$BIG"
head -c "$SMALL" "$LAB_TMP/big.bin" >"$LAB_TMP/small.bin"

rx() { peer_exec cat "/sys/class/net/veth-peer/statistics/rx_$1"; }

# upload NAME FILE PORT [ENV...]: nc -N under synack sends FILE to a kernel nc -l on PORT. Sets
# BYTES_PER_PACKET (what the peer's veth received meanwhile); PASS/FAIL on the transfer.
upload() {
	local name=$1 file=$2 port=$3 listener rc=0 lrc=0 p0 b0
	shift 3
	spawn "$LAB_TMP/knc.$port.err" bash -c \
		"exec ip netns exec '$NS_B' nc -l '$ADDR_B' $port </dev/null >'$LAB_TMP/k.$port.out'"
	listener=$LAB_LAST_PID
	peer_wait_listen "$port"
	p0=$(rx packets) b0=$(rx bytes)
	(
		(($# == 0)) || export "$@"
		SYNACK_LOG=info SYNACK_STATS=$LAB_TMP/stats.$port LAB_TIMEOUT=$BOUND \
			synack_exec nc -N "$ADDR_B" "$port" <"$file" \
			>/dev/null 2>"$LAB_TMP/snc.$port.err"
	) || rc=$?
	timeout 30 tail --pid="$listener" -f /dev/null || lrc=124
	wait "$listener" 2>/dev/null || lrc=$?
	BYTES_PER_PACKET=$((($(rx bytes) - b0) / ($(rx packets) - p0 + 1)))
	if ((rc != 0 || lrc != 0)); then
		fail "$name" "nc under synack exit $rc, kernel nc -l exit $lrc"
		show "$LAB_TMP/snc.$port.err"
		show "$LAB_TMP/knc.$port.err"
		return 1
	fi
	check_sha "$name" "$LAB_TMP/k.$port.out" "$file"
	rm -f "$LAB_TMP/k.$port.out"
}

# counter PORT NAME: a counter synack wrote at exit (SYNACK_STATS) for the upload on PORT.
counter() { sed -n "s/^$2 //p" "$LAB_TMP/stats.$1" 2>/dev/null; }

# super_frames NAME PORT yes|no: the device sent super-frames (dev_tx_gso_frames), or none.
super_frames() {
	local n
	n=$(counter "$2" dev_tx_gso_frames)
	if [[ -z $n ]]; then
		fail "$1" "no dev_tx_gso_frames in synack's counters"
		show "$LAB_TMP/stats.$2"
	elif [[ $3 == yes && $n -gt 0 ]] || [[ $3 == no && $n -eq 0 ]]; then
		pass "$1 (dev_tx_gso_frames $n, tcp_tx_super_segs $(counter "$2" tcp_tx_super_segs))"
	else
		fail "$1" "dev_tx_gso_frames $n"
	fi
}

# offloads_said NAME PORT WANT: synack's start-up line names the offloads it got.
offloads_said() {
	if grep -q "offloads: $3" "$LAB_TMP/snc.$2.err"; then
		pass "$1"
	else
		fail "$1" "synack's log does not say 'offloads: $3'"
		show "$LAB_TMP/snc.$2.err"
	fi
}

# ---- 1. super-frames on a clean link ----
if upload "nc -N under synack uploads 100 MiB with super-frames" "$LAB_TMP/big.bin" 9100; then
	if ((BYTES_PER_PACKET > 3000)); then
		pass "super-frames crossed the veth whole ($BYTES_PER_PACKET bytes per received packet)"
	else
		fail "super-frames crossed the veth whole" "$BYTES_PER_PACKET bytes per received packet"
	fi
fi
offloads_said "synack says the kernel granted the offloads" 9100 "TCP super-frames"
super_frames "the device counted the super-frames it sent" 9100 yes

# ---- 2. without offloads ----
if upload "SYNACK_OFFLOAD=0: 20 MiB upload in MSS-sized frames" "$LAB_TMP/small.bin" 9101 \
	SYNACK_OFFLOAD=0; then
	if ((BYTES_PER_PACKET <= 1514)); then
		pass "SYNACK_OFFLOAD=0: every frame fitted the MTU ($BYTES_PER_PACKET bytes per packet)"
	else
		fail "SYNACK_OFFLOAD=0: every frame fitted the MTU" "$BYTES_PER_PACKET bytes per packet"
	fi
fi
offloads_said "SYNACK_OFFLOAD=0 is said" 9101 "none (SYNACK_OFFLOAD=0)"
super_frames "SYNACK_OFFLOAD=0: the device sent no super-frame" 9101 no

# ---- 3. 3% loss each way ----
ip netns exec "$NS_A" ethtool -K "$IF_A" tso off >/dev/null
peer_exec ip link set veth-peer gso_max_segs 1
peer_lossy 3
drops() { peer_lossy_drops; }
before=$(drops)
t0=$(now_ms)
if upload "100 MiB with super-frames at 3% loss each way" "$LAB_TMP/big.bin" 9102; then
	after=$(drops)
	if [[ $after == "$before" || $after == 0/0 ]]; then
		fail "the loss was real" "nftables dropped nothing ($before -> $after)"
	elif ((BYTES_PER_PACKET > 1514)); then
		fail "the loss was real" "the peer got $BYTES_PER_PACKET bytes per packet: not cut to segments"
	else
		pass "the loss was real: drops in/out $before -> $after in $((($(now_ms) - t0) / 1000)) s, one segment each"
	fi
fi
offloads_said "synack used super-frames on the lossy link" 9102 "TCP super-frames"
super_frames "super-frames were sent on the lossy link" 9102 yes
peer_exec nft delete table inet lossy

# ---- 4. an interface limited to one segment per frame ----
ip netns exec "$NS_A" ethtool -K "$IF_A" tso on >/dev/null
ip -n "$NS_A" link set "$IF_A" gso_max_segs 1
if upload "gso_max_segs 1: 20 MiB upload" "$LAB_TMP/small.bin" 9103; then
	if ((BYTES_PER_PACKET <= 1514)); then
		pass "gso_max_segs 1 is honoured: every frame fitted the MTU ($BYTES_PER_PACKET bytes per packet)"
	else
		fail "gso_max_segs 1 is honoured" "$BYTES_PER_PACKET bytes per packet"
	fi
fi
super_frames "gso_max_segs 1: the device sent no super-frame" 9103 no

lab_finish

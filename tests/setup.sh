#!/usr/bin/env bash
# Install what synack needs on Debian 12 (as root) and build it into build/.
#
#   bash tests/setup.sh
#
# Idempotent: packages already installed are not asked for again (no apt at all when
# everything is present), and an existing build/ is only recompiled. Quiet unless something
# fails; then it says what failed and shows the end of the log.
# Produces build/shim/libsynack.so (the preload library) and build/shim/synack (the tool).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${SYNACK_BUILD_DIR:-build}

# What the build, the tests, the demo and the docs use:
#   build-essential meson ninja-build pkg-config   compiler and build system
#   libev-dev libunwind-dev libcriterion-dev       libraries (event loop, backtraces, unit tests)
#   iproute2                                       ip netns / veth (the lab)
#   procps                                         sysctl (the lab)
#   curl python3                                   the lab's client and server programs
#   coreutils                                      sha256sum, timeout, head
#   tcpdump                                        reading SYNACK_PCAP files, debugging the lab
#   nftables                                       firewall rules for lab experiments (docs/lab.md)
#   graphviz                                       docs/state-machine.svg (docs/gen-state-machine.sh)
#   nginx-light apache2-utils redis-server         real programs of tests/lab/7*-*.sh (nginx, ab,
#   redis-tools iperf3 wget openssl netcat-openbsd redis, iperf3, wget, s_server, nc); the tests
#                                                  run their own instances inside the lab
#   libcap2-bin                                    setcap (tests/lab/91-synack-run.sh)
#   ethtool                                        interface offloads (tests/lab/93-tso.sh)
#   postgresql socat                               multi-process servers of tests/lab/12*-*.sh
#                                                  (a postmaster forking backends, socat fork)
#   clang libclang-rt-14-dev llvm-14               the libFuzzer harnesses (tests/fuzz/: clang
#                                                  -fsanitize=fuzzer and its runtime) and their
#                                                  coverage report (llvm-profdata, llvm-cov)
PACKAGES=(build-essential meson ninja-build pkg-config libev-dev libunwind-dev libcriterion-dev
	iproute2 procps curl python3 coreutils tcpdump nftables graphviz
	nginx-light apache2-utils redis-server redis-tools iperf3 wget openssl netcat-openbsd
	libcap2-bin ethtool postgresql socat clang libclang-rt-14-dev llvm-14)

LOG=$(mktemp "${TMPDIR:-/tmp}/synack-setup.XXXXXX")
trap 'rm -f "$LOG"' EXIT

fail() {
	echo "setup.sh: $1" >&2
	if [[ -s $LOG ]]; then
		echo "---- last lines of the log ----" >&2
		tail -n 40 "$LOG" >&2
	fi
	exit 1
}

[[ $(id -u) -eq 0 ]] || { echo "setup.sh: run as root (it installs packages and the lab needs root)" >&2; exit 1; }
[[ -r /etc/debian_version ]] || echo "setup.sh: warning: not Debian; package names are Debian 12's" >&2

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[[ $status == installed ]] || missing+=("$p")
done

if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >"$LOG" 2>&1 || fail "apt-get update failed (no access to the Debian mirror?)"
	apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 ||
		fail "apt-get install ${missing[*]} failed"
fi

# The scripts run Debian's interpreter explicitly (a pyenv or venv python3 earlier in PATH may
# lack http.server's --protocol or differ in version).
[[ -x /usr/bin/python3 ]] || fail "/usr/bin/python3 missing after installing python3"

if [[ ! -f $BUILD/build.ninja ]]; then
	rm -rf "$BUILD"
	meson setup "$BUILD" >"$LOG" 2>&1 || fail "meson setup $BUILD failed"
fi
# meson compile re-runs the configuration itself when a meson.build changed. A build dir from
# another meson version cannot be reused: wipe it once and retry.
if ! meson compile -C "$BUILD" >"$LOG" 2>&1; then
	if grep -q "wipe" "$LOG"; then
		meson setup --wipe "$BUILD" >"$LOG" 2>&1 || fail "meson setup --wipe $BUILD failed"
		meson compile -C "$BUILD" >"$LOG" 2>&1 || fail "meson compile -C $BUILD failed"
	else
		fail "meson compile -C $BUILD failed"
	fi
fi

[[ -f $BUILD/shim/libsynack.so ]] || fail "the build finished but $ROOT/$BUILD/shim/libsynack.so is missing"
exit 0

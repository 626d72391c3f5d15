# shellcheck shell=bash
# Shared by bench/run.sh, bench/start.sh and bench/profile.sh (sourced, not run): the release
# build of the commit to measure, the labs, the teardown. Each script sets its settings and
# defines die() first.

# lab PREFIX up|down: examples/lab.sh with that prefix, quiet, bounded.
lab() {
	SYNACK_LAB_PREFIX=$1 SYNACK_LAB_QUIET=1 timeout -k 5 60 bash "$ROOT/examples/lab.sh" "$2"
}

# bench_build_settings: BENCH_BUILD_DIR, BENCH_SOURCE, BENCH_COMMIT, BENCH_REUSE and BENCH_NICE,
# checked, into BUILD SOURCE REV REV_FULL REUSE NICE. Needs ROOT (the repository) and die().
bench_build_settings() {
	BUILD=${BENCH_BUILD_DIR:-build-bench}
	[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
	BUILD=${BUILD%/}
	SOURCE=${BENCH_SOURCE:-head}
	REV=${BENCH_COMMIT:-HEAD}
	REUSE=${BENCH_REUSE:-0}
	NICE=${BENCH_NICE:--20}
	# The build directory is wiped and rebuilt: never one that is not the benchmark's own.
	[[ $BUILD != "$ROOT" && $BUILD != "$ROOT/build" && $BUILD != / ]] ||
		die "BENCH_BUILD_DIR must be a directory of its own, not '$BUILD'"
	[[ $NICE =~ ^-?[0-9]+$ && $NICE -ge -20 && $NICE -le 19 ]] || die "BENCH_NICE='$NICE' is not -20..19"
	[[ $SOURCE == head || $SOURCE == worktree ]] || die "BENCH_SOURCE='$SOURCE' is not head or worktree"
	[[ $REUSE == 0 || $REUSE == 1 ]] || die "BENCH_REUSE='$REUSE' is not 0 or 1"
	[[ $REV == HEAD || $SOURCE == head ]] || die "BENCH_COMMIT needs BENCH_SOURCE=head"
	REV_FULL=$(git rev-parse --verify -q "$REV^{commit}") || die "BENCH_COMMIT='$REV' is not a commit"
}

# bench_traps FUNC: FUNC runs on any exit (it tears down what the script made); a signal exits
# with 128 + its number, through FUNC.
bench_traps() {
	# shellcheck disable=SC2064 # the function name, expanded now on purpose
	trap "$1" EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	trap 'exit 129' HUP
}

# bench_stop PID...: TERM each, then KILL whatever still runs 2 s later.
bench_stop() {
	local pid
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		timeout 2 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	done
}

# bench_build: build what is measured into $BUILD (release). By default the committed HEAD (or
# $REV_FULL, BENCH_COMMIT) is built, from a snapshot (git archive) in $BUILD.src: the figures
# then belong to one commit, and edits in progress in the shared tree (half-written files)
# neither break the build nor leak into the numbers. SOURCE=worktree builds the working tree as
# it is. Uses ROOT BUILD SOURCE REV REV_FULL REUSE TMP; sets SRC and COMMIT.
bench_build() {
	if [[ $SOURCE == head ]]; then
		SRC=$BUILD.src
		COMMIT=$(git rev-parse --short "$REV_FULL")
		echo "== build of $REV $COMMIT (snapshot in ${SRC#"$ROOT"/}, build in ${BUILD#"$ROOT"/}, release)"
		if [[ $REUSE == 1 && -f $SRC/.bench-commit && $(cat "$SRC/.bench-commit") == "$COMMIT" ]]; then
			echo "   (BENCH_REUSE=1: the snapshot is already of $COMMIT, kept)"
		else
			rm -rf "$SRC" "$BUILD"
			mkdir -p "$SRC"
			git archive --format=tar "$REV_FULL" | tar -x -m -C "$SRC" || die "git archive $REV failed"
			echo "$COMMIT" >"$SRC/.bench-commit" # for bench/profile.sh: what this build is
		fi
	else
		SRC=$ROOT
		COMMIT="$(git rev-parse --short HEAD) + working tree"
		rm -f "$BUILD.src/.bench-commit"
		echo "== build of the working tree (${BUILD#"$ROOT"/}, release)"
	fi
	if [[ ! -f $BUILD/build.ninja ]]; then
		timeout 300 meson setup "$BUILD" "$SRC" --buildtype=release >"$TMP/build.log" 2>&1 ||
			{ tail -n 30 "$TMP/build.log" >&2; die "meson setup failed"; }
	fi
	# An existing directory is switched to release too (a no-op when it already is).
	timeout 120 meson configure "$BUILD" -Dbuildtype=release >"$TMP/build.log" 2>&1 ||
		{ tail -n 30 "$TMP/build.log" >&2; die "meson configure failed"; }
	timeout 600 meson compile -C "$BUILD" >"$TMP/build.log" 2>&1 ||
		{ tail -n 30 "$TMP/build.log" >&2; die "build failed"; }
}

# shellcheck shell=bash
# Shared by bench/run.sh and bench/start.sh (sourced, not run): the release build of the commit
# to measure, and the labs. Each script sets its settings and defines die() first.

# lab PREFIX up|down: examples/lab.sh with that prefix, quiet, bounded.
lab() {
	SYNACK_LAB_PREFIX=$1 SYNACK_LAB_QUIET=1 timeout -k 5 60 bash "$ROOT/examples/lab.sh" "$2"
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

#!/usr/bin/env bash
# `meson install --destdir` of the build (shim/meson.build, docs/meson.build, examples/):
#  - the tree holds bin/synack, libsynack.so in the libdir, man1/synack.1, man7/synack.7,
#    pkgconfig/synack.pc, bash-completion/completions/synack and share/synack/lab.sh, and
#    nothing else;
#  - synack.7 names every SYNACK_* variable of docs/configuration.md; both pages render
#    without a warning from man;
#  - pkg-config reads synack.pc: its preload variable is the installed library;
#  - the installed synack run finds the installed library (LD_PRELOAD names it, not the build
#    tree's), also after the tree is moved elsewhere, and curl under it downloads through
#    synack (its trace shows ESTABLISHED);
#  - the installed synack lab runs the installed lab script;
#  - the completion completes verbs, options, ss's states and interface names;
#  - meson's uninstall leaves nothing behind.
. "$(dirname "$0")/lib.sh"

lab_up
if [[ ! -f $LAB_BUILD/build.ninja ]]; then
	fail "the build is configured" "$LAB_BUILD/build.ninja is missing"
	lab_finish
fi

DEST=$LAB_TMP/root
if ! meson install -C "$LAB_BUILD" --no-rebuild --destdir "$DEST" >"$LAB_TMP/install.log" 2>&1; then
	fail "meson install --destdir" "failed"
	show "$LAB_TMP/install.log"
	lab_finish
fi
prefix=$(meson introspect "$LAB_BUILD" --buildoptions | "$LAB_PY" -c '
import json, sys
print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
P=$DEST$prefix
lib=$(find "$DEST" -name libsynack.so)
want=(bin/synack share/man/man1/synack.1 share/man/man7/synack.7
	share/bash-completion/completions/synack share/synack/lab.sh)
missing=()
for f in "${want[@]}"; do
	[[ -f $P/$f ]] || missing+=("$f")
done
pc=$(find "$DEST" -name synack.pc)
[[ -n $lib ]] || missing+=("libsynack.so")
[[ -n $pc ]] || missing+=("pkgconfig/synack.pc")
count=$(find "$DEST" -type f | wc -l)
if ((${#missing[@]} == 0 && count == 7)) && [[ -x $P/bin/synack && -x $P/share/synack/lab.sh ]]; then
	pass "the installed tree holds bin/synack, ${lib#"$P"/}, synack.1, synack.7, ${pc#"$P"/}, the completion and lab.sh, nothing else"
else
	fail "the installed tree" "missing: ${missing[*]:-none}; $count files"
	find "$DEST" -type f | sed 's/^/  | /'
fi

# The pages.
if "$LAB_PY" "$LAB_ROOT/docs/gen-man7.py" --check "$LAB_ROOT/docs/configuration.md" "$P/share/man/man7/synack.7" \
	>"$LAB_TMP/man7.out" 2>&1; then
	pass "synack.7: $(cat "$LAB_TMP/man7.out")"
else
	fail "synack.7 names every variable of configuration.md" "$(cat "$LAB_TMP/man7.out")"
fi
for page in man1/synack.1 man7/synack.7; do
	warn=$(MANWIDTH=80 man --warnings -l "$P/share/man/$page" 2>&1 >/dev/null)
	if [[ -z $warn ]] && MANWIDTH=80 man -l "$P/share/man/$page" 2>/dev/null | grep -q "^NAME"; then
		pass "man renders $page without a warning"
	else
		fail "man renders $page" "${warn:-no NAME section}"
	fi
done

# pkg-config.
pcdir=$(dirname "$pc")
got=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$P" --variable=preload synack 2>&1)
if [[ $got == "$lib" ]]; then
	pass "pkg-config --variable=preload synack is the installed library"
else
	fail "pkg-config synack.pc" "preload is '$got', want $lib"
fi

# synack run from the installed tree, then from a moved copy of it.
srv=$LAB_TMP/srv
mkdir -p "$srv"
make_file "$srv/f" 262144
peer_http_server "$srv" 8000 HTTP/1.0
for where in installed moved; do
	tool=$P/bin/synack
	wantlib=$lib
	if [[ $where == moved ]]; then
		mkdir -p "$LAB_TMP/elsewhere"
		cp -a "$P" "$LAB_TMP/elsewhere/"
		tool=$LAB_TMP/elsewhere/${prefix##*/}/bin/synack
		wantlib=$LAB_TMP/elsewhere/${prefix##*/}/${lib#"$P"/}
	fi
	preload=$(timeout 20 ip netns exec "$NS_A" "$tool" run --iface "$IF_A" --addr "$ADDR_A/24" -- \
		sh -c 'echo "$LD_PRELOAD"' 2>&1)
	rc=0
	timeout -k 3 30 ip netns exec "$NS_A" env SYNACK_TRACE=states "$tool" run --iface "$IF_A" \
		--addr "$ADDR_A/24" --strict -- curl -sS --max-time 20 -o "$LAB_TMP/f.$where" \
		"http://$ADDR_B:8000/f" 2>"$LAB_TMP/curl.$where.err" || rc=$?
	if [[ $preload != "$wantlib" ]]; then
		fail "synack run from the $where tree uses its library" "LD_PRELOAD=$preload, want $wantlib"
	elif ((rc != 0)) || ! grep -q "^synack: trace .* -> ESTABLISHED " "$LAB_TMP/curl.$where.err"; then
		fail "curl under the $where synack" "exit $rc, or no ESTABLISHED in its trace"
		show "$LAB_TMP/curl.$where.err"
	else
		check_sha "synack run from the $where tree preloads ${wantlib#"$LAB_TMP"/} and curl downloads through synack" \
			"$LAB_TMP/f.$where" "$srv/f"
	fi
done

# synack lab from the installed tree runs the installed lab script.
if command -v strace >/dev/null; then
	rc=0
	SYNACK_LAB_QUIET=1 strace -f -e trace=execve -o "$LAB_TMP/lab.strace" "$P/bin/synack" lab status \
		>"$LAB_TMP/lab.out" 2>&1 || rc=$?
	if ((rc == 0)) && grep -q "execve(\"$P/bin/../share/synack/lab.sh\"" "$LAB_TMP/lab.strace"; then
		pass "synack lab status from the installed tree runs share/synack/lab.sh (this test's lab: up)"
	else
		fail "synack lab from the installed tree" "exit $rc; $(grep execve "$LAB_TMP/lab.strace" | head -n3)"
		show "$LAB_TMP/lab.out"
	fi
else
	fail "synack lab from the installed tree" "strace is missing"
fi

# The completion.
complete_words() { # complete_words WORD...: what the installed completion offers for the last
	ip netns exec "$NS_A" bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _synack
		printf "%s\n" "${COMPREPLY[@]}"' sh "$P/share/bash-completion/completions/synack" "$@" | LC_ALL=C sort | tr '\n' ' '
}
c1=$(complete_words synack s)
c2=$(complete_words synack ss state est)
c3=$(complete_words synack run --iface veth)
c4=$(complete_words synack iface add sk0 --)
c5=$(complete_words synack stat -)
if [[ $c1 == "ss stat " && $c2 == "established " && $c3 == "veth-sk " && $c4 == "--mode --parent " &&
	$c5 == "--help -a -p -r " ]]; then
	pass "completion: 'synack s' -> ss stat, 'ss state est' -> established, 'run --iface veth' -> veth-sk, iface add options, stat options"
else
	fail "completion" "got '$c1' '$c2' '$c3' '$c4' '$c5'"
fi

# Uninstall.
rc=0
DESTDIR=$DEST ninja -C "$LAB_BUILD" uninstall >"$LAB_TMP/uninstall.log" 2>&1 || rc=$?
left=$(find "$DEST" 2>/dev/null | head -n5 || true)
if ((rc == 0)) && [[ -z $left ]]; then
	pass "uninstall leaves nothing behind"
else
	fail "uninstall" "exit $rc; left: $left"
	show "$LAB_TMP/uninstall.log"
fi
lab_finish

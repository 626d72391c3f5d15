#!/usr/bin/env bash
# PostgreSQL under synack: the postmaster listens on 10.77.0.1:5432 and forks a backend process
# per connection, which serves the connection on the socket it inherits; kernel psql clients
# in the peer namespace (trust authentication for 10.77.0.0/24):
#  1. pg_ctl start -w -t 60 returns 0 (the postmaster is up and listening);
#  2. psql creates a table; 4 psql clients at once (4 backends) insert 250 rows each, one
#     INSERT statement per row (1000 round trips); psql reads back count(*) = 1000 and every
#     row, ordered, SHA-256 equal to what was inserted;
#  3. the postmaster still runs; its log has no PANIC, no FATAL, no "could not send/receive data".
# PostgreSQL refuses to run as root: the cluster is the postgres user's (initdb into $LAB_TMP,
# fsync off, small shared_buffers, its unix socket in $LAB_TMP), and synack_exec runs pg_ctl as
# postgres with CAP_NET_RAW as its one ambient capability (LAB_AS_USER, setpriv): `synack run`
# opens the packet socket and hands it down (SYNACK_PACKET_FD), and every postgres process
# keeps the capability, should it need to open one itself. Stopped at cleanup with
# pg_ctl stop -m immediate. By hand, LAB_KERNEL_ONLY=1 runs PostgreSQL on the kernel: every
# check passes there.
. "$(dirname "$0")/lib.sh"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PGDIR=$LAB_TMP/pg
DATA=$PGDIR/data
lab_up
if [[ ! -x $PGBIN/pg_ctl ]]; then
	fail "set-up" "PostgreSQL is not installed (bash tests/setup.sh installs it)"
	lab_finish
fi
chmod 711 "$LAB_TMP"
mkdir -p "$PGDIR/sock"
chown -R postgres:postgres "$PGDIR"
as_postgres() { (cd "$PGDIR" && timeout -k 3 "${LAB_TIMEOUT:-60}" runuser -u postgres -- "$@"); }
if ! as_postgres "$PGBIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >"$LAB_TMP/initdb.log" 2>&1; then
	fail "set-up" "initdb failed"
	show "$LAB_TMP/initdb.log"
	lab_finish
fi
cat >>"$DATA/postgresql.conf" <<PGEOF
listen_addresses = '$ADDR_A'
port = 5432
unix_socket_directories = '$PGDIR/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 20
PGEOF
echo "host all all 10.77.0.0/24 trust" >>"$DATA/pg_hba.conf"
lab_on_exit "timeout 20 runuser -u postgres -- $PGBIN/pg_ctl stop -m immediate -D $DATA"

# 1. Start (pg_ctl leaves the postmaster running in the background).
rc=0
(cd "$PGDIR" && LAB_AS_USER=postgres LAB_TIMEOUT=90 synack_exec "$PGBIN/pg_ctl" start -w -t 60 -D "$DATA" \
	-l "$PGDIR/postgres.log") >"$LAB_TMP/pg_ctl.log" 2>&1 || rc=$?
postmaster=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
if ((rc == 0)) && [[ -n $postmaster ]] && kill -0 "$postmaster" 2>/dev/null; then
	pass "pg_ctl start -w under synack: the postmaster (pid $postmaster) is up"
else
	fail "pg_ctl start -w under synack" "exit $rc"
	show "$LAB_TMP/pg_ctl.log"
	show "$PGDIR/postgres.log"
	lab_finish
fi

# 2. Kernel psql clients. psql -X: no ~/.psqlrc; ON_ERROR_STOP: any SQL error is exit 3.
psql_peer() { # OUT SQL-FILE
	peer_exec timeout -k 3 120 psql -X -q -At -v ON_ERROR_STOP=1 -h "$ADDR_A" -U postgres -d postgres \
		-f "$2" >"$1" 2>"${1%.out}.err"
}
echo "CREATE TABLE t (id integer PRIMARY KEY, v text NOT NULL);" >"$LAB_TMP/create.sql"
rc=0
psql_peer "$LAB_TMP/create.out" "$LAB_TMP/create.sql" || rc=$?
if ((rc == 0)); then
	pass "psql (kernel) creates a table over synack"
else
	fail "psql (kernel) creates a table over synack" "psql exit $rc"
	show "$LAB_TMP/create.err"
	show "$PGDIR/postgres.log"
fi
# Rows id, 'row ID <sha256 of ID>': 4 files of 250 INSERTs, and the expected SELECT output.
"$LAB_PY" - "$LAB_TMP" <<'PYEOF'
import hashlib, sys
d = sys.argv[1]
rows = [(i, f"row {i} {hashlib.sha256(str(i).encode()).hexdigest()}") for i in range(1, 1001)]
for k in range(4):
    with open(f"{d}/insert{k}.sql", "w") as f:
        for i, v in rows[k * 250:(k + 1) * 250]:
            f.write(f"INSERT INTO t VALUES ({i}, '{v}');\n")
open(f"{d}/want.txt", "w").write("".join(f"{i}|{v}\n" for i, v in rows))
PYEOF
pids=()
for k in 0 1 2 3; do
	psql_peer "$LAB_TMP/insert$k.out" "$LAB_TMP/insert$k.sql" &
	pids+=($!)
done
bad=""
for k in 0 1 2 3; do
	wait "${pids[k]}" || bad+=" client $k: exit $?;"
done
if [[ -z $bad ]]; then
	pass "4 psql clients at once (4 backends) insert 250 rows each, one INSERT per row"
else
	fail "4 psql clients at once insert 250 rows each" "$bad"
	for k in 0 1 2 3; do show "$LAB_TMP/insert$k.err"; done
fi
echo "SELECT count(*) FROM t;" >"$LAB_TMP/count.sql"
rc=0
psql_peer "$LAB_TMP/count.out" "$LAB_TMP/count.sql" || rc=$?
if ((rc == 0)) && [[ $(cat "$LAB_TMP/count.out") == 1000 ]]; then
	pass "SELECT count(*) = 1000"
else
	fail "SELECT count(*) = 1000" "psql exit $rc, count '$(head -c 100 "$LAB_TMP/count.out")'"
	show "$LAB_TMP/count.err"
fi
echo "SELECT id, v FROM t ORDER BY id;" >"$LAB_TMP/select.sql"
rc=0
psql_peer "$LAB_TMP/select.out" "$LAB_TMP/select.sql" || rc=$?
check_transfer "SELECT of the 1000 rows equals what was inserted" "$rc" "$LAB_TMP/select.out" \
	"$LAB_TMP/want.txt" "$LAB_TMP/select.err"

# 3.
check_running "the postmaster under synack still running" "$postmaster" "$PGDIR/postgres.log"
if grep -E 'PANIC|FATAL|could not (send|receive) data' "$PGDIR/postgres.log" >"$LAB_TMP/pg-errors"; then
	fail "postgres log clean" "$(wc -l <"$LAB_TMP/pg-errors") PANIC, FATAL, send or receive lines"
	show "$LAB_TMP/pg-errors"
else
	pass "postgres log has no PANIC, no FATAL, no send or receive error"
fi
lab_finish

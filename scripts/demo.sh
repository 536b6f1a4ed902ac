#!/usr/bin/env bash
# The main job on an embedded default (README "Run a failover"):
#   start a real MariaDB topology (1 master + 3 replicas on 127.0.0.1),
#   make the replicas stop at different positions (across several master
#   binlog files), SIGKILL the master, then with binlog-diff:
#   print the plan, cut every replica's diff (relay logs of the latest
#   replica + the dead master's binlog tail), apply them, and check that
#   every replica now holds exactly what the master had committed.
#
# Usage: scripts/demo.sh [TRANSACTIONS]   (default 3000)
# Env:   MDB_KEEP=1 keeps the servers' folders; BINLOG_DIFF=path/to/binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-3000}

command -v mariadbd >/dev/null || { echo "installing mariadb-server mariadb-client"; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client >/dev/null; }
if [[ -z ${BINLOG_DIFF:-} ]]; then
    cargo build --release --quiet
    BINLOG_DIFF=$ROOT/target/release/binlog-diff
fi

# shellcheck source=lib/mariadb.sh
source scripts/lib/mariadb.sh
mdb_init
say() { printf '\n== %s\n' "$*"; }
t0=$SECONDS

say "starting master + 3 replicas in $MDB_WORKDIR"
opts=(--binlog-format=ROW --binlog-checksum=CRC32 --max-binlog-size=262144 --character-set-server=utf8mb4)
base=$(free_port 24306)
start_server master "$base" --server-id=1 "${opts[@]}"
for i in 1 2 3; do start_server "r$i" "$(free_port $((base + i)))" --server-id=$((i + 1)) "${opts[@]}"; done
for s in master r1 r2 r3; do wait_ready "$s"; done
# An admin account for binlog-diff over TCP; its password travels only in
# MYSQL_PWD, set for binlog-diff alone (the local clients use the socket as root).
PW="demo-$RANDOM$RANDOM"
for s in master r1 r2 r3; do
    sql "$s" "SET SESSION sql_log_bin=0; CREATE USER 'admin'@'127.0.0.1' IDENTIFIED BY '$PW'; GRANT ALL ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION;"
done
bd() { MYSQL_PWD=$PW "$BINLOG_DIFF" "$@"; }
for r in r1 r2 r3; do setup_replication "$r" master; done

sql master <<'SQL'
CREATE DATABASE bd CHARACTER SET utf8mb4;
CREATE TABLE bd.t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(200), amount DECIMAL(12,2), created DATETIME(6), payload BLOB, doc JSON) ENGINE=InnoDB;
CREATE TABLE bd.seq (n INT PRIMARY KEY) ENGINE=InnoDB;
SQL

# workload FROM TO: one transaction per number, recorded in bd.seq.
workload() {
    local from=$1 to=$2 i
    for ((i = from; i <= to; i++)); do
        printf "BEGIN; INSERT INTO bd.t (name, amount, created, payload, doc) VALUES ('row %d', %d.%02d, NOW(6), REPEAT('x', %d), JSON_OBJECT('n', %d)); UPDATE bd.t SET amount = amount + 1 WHERE id = %d; INSERT INTO bd.seq VALUES (%d); COMMIT;\n" \
            "$i" "$i" $((i % 100)) $((i % 700)) "$i" $(((i + 1) / 2)) "$i"
    done | sql master
}

q=$((N / 4))
say "workload: $N transactions; replicas stop reading at different points"
workload 1 "$q";                 sql r3 "STOP SLAVE IO_THREAD"; wait_io_stopped r3
workload $((q + 1)) $((2 * q));  sql r2 "STOP SLAVE IO_THREAD"; wait_io_stopped r2
workload $((2 * q + 1)) $((3 * q)); wait_caught_up r1 master; sql r1 "STOP SLAVE IO_THREAD"; wait_io_stopped r1
workload $((3 * q + 1)) "$N"     # only the master has these

say "master before the crash"
sql master "SHOW MASTER STATUS"
expect=$(sql master "CHECKSUM TABLE bd.t, bd.seq EXTENDED" | awk '{print $2}' | paste -sd' ')
expect_n=$(sql master "SELECT COUNT(*) FROM bd.seq")
kill_server master
say "master SIGKILLed; replicas apply what they have read"
for r in r1 r2 r3; do wait_sql_applied "$r"; sql "$r" "STOP SLAVE"; done
for r in r1 r2 r3; do
    printf '%s: ' "$r"; slave_status "$r" | awk -F'\t' '$1=="Master_Log_File"||$1=="Read_Master_Log_Pos"{printf "%s ", $2} END{print ""}'
done

say "binlog-diff diff (plan)"
live=()
for r in r1 r2 r3; do live+=(--live "$r=127.0.0.1:$(server_port "$r")"); done
bd diff "${live[@]}" -u admin --master-binlogs "$(server_datadir master)"

say "binlog-diff diff --write (cut every replica's diff, in parallel)"
out=$MDB_WORKDIR/diffs
bd diff "${live[@]}" -u admin --master-binlogs "$(server_datadir master)" --write "$out" --json >"$MDB_WORKDIR/plan.json"
ls -l "$out"

say "apply"
if bd apply --help >/dev/null 2>&1; then
    # One apply per replica, in parallel (as MHA does), each verified.
    pids=()
    for r in r1 r2 r3; do
        bd apply --host 127.0.0.1 --port "$(server_port "$r")" --user admin "$out/$r.diff.binlog" >"$MDB_WORKDIR/apply-$r.log" 2>&1 &
        pids+=($!)
    done
    rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    for r in r1 r2 r3; do echo "-- $r"; cat "$MDB_WORKDIR/apply-$r.log"; done
    ((rc == 0)) || { echo "an apply failed"; exit 1; }
else
    echo "(native applier not built yet: applying with mariadb-binlog | mariadb)"
    for r in r1 r2 r3; do
        mariadb-binlog --no-defaults "$out/$r.diff.binlog" | sql "$r"
    done
fi

say "check: every replica equals the master's committed state"
fail=0
for r in r1 r2 r3; do
    got=$(sql "$r" "CHECKSUM TABLE bd.t, bd.seq EXTENDED" | awk '{print $2}' | paste -sd' ')
    n=$(sql "$r" "SELECT COUNT(*) FROM bd.seq")
    if [[ $got == "$expect" && $n == "$expect_n" ]]; then
        echo "$r: OK ($n transactions, checksums $got)"
    else
        echo "$r: MISMATCH ($n of $expect_n transactions; checksums $got, want $expect)"; fail=1
    fi
done
echo "total time: $((SECONDS - t0)) s"
exit $fail

#!/usr/bin/env bash
# The main job on an embedded default (README "Run a failover"):
#   start a real MariaDB topology (1 master + 3 replicas on 127.0.0.1),
#   make the replicas stop at different positions (across several master
#   binlog files), SIGKILL the master, then `binlog-diff failover` on an MHA
#   app.cnf: the plan (--dry-run), then the failover itself (every replica's
#   diff cut from the latest replica's relay logs + the dead master's binlog
#   tail, applied natively, replicas re-pointed at the new master); check that
#   every replica holds exactly what the master had committed and that the
#   others replicate from the new master.
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
for r in r1 r2 r3; do setup_replication "$r" master; done
# Every server can become the master: each needs the replication account.
for r in r1 r2 r3; do
    sql "$r" "SET SESSION sql_log_bin=0; CREATE USER '$MDB_REPL_USER'@'127.0.0.1' IDENTIFIED BY '$MDB_REPL_PASSWORD'; GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '$MDB_REPL_USER'@'127.0.0.1';"
done

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
say "master SIGKILLed"
for r in r1 r2 r3; do
    printf '%s: ' "$r"; slave_status "$r" | awk -F'\t' '$1=="Master_Log_File"||$1=="Read_Master_Log_Pos"{printf "%s ", $2} END{print ""}'
done

# MHA's application configuration: the same file an MHA manager would use.
# It holds the passwords (as MHA's does): mode 0600, never printed.
conf=$MDB_WORKDIR/app.cnf
(
    umask 077
    printf '[server default]\nuser=admin\npassword=%s\nrepl_user=%s\nrepl_password=%s\nmanager_workdir=%s\n\n' \
        "$PW" "$MDB_REPL_USER" "$MDB_REPL_PASSWORD" "$MDB_WORKDIR/manager"
    for s in master r1 r2 r3; do
        printf '[server_%s]\nhostname=127.0.0.1\nport=%s\nmaster_binlog_dir=%s\n\n' "$s" "$(server_port "$s")" "$(server_datadir "$s")"
    done
) >"$conf"

say "binlog-diff failover --dry-run (the plan; nothing changes)"
"$BINLOG_DIFF" failover --conf "$conf" --dead-master-host 127.0.0.1 --dead-master-port "$(server_port master)" --dry-run

say "binlog-diff failover"
"$BINLOG_DIFF" failover --conf "$conf" --dead-master-host 127.0.0.1 --dead-master-port "$(server_port master)" \
    --workdir "$MDB_WORKDIR/diffs" | tee "$MDB_WORKDIR/failover.log"
new=$(sed -n 's/^Master failover to server_\([a-z0-9]*\)(.*completed successfully.*/\1/p' "$MDB_WORKDIR/failover.log")
[[ -n $new ]] || { echo "failover did not complete"; exit 1; }

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
say "check: the others replicate from the new master ($new)"
sql "$new" "INSERT INTO bd.seq VALUES (1000000000)"
for r in r1 r2 r3; do
    [[ $r == "$new" ]] && continue
    for _ in $(seq 300); do
        [[ $(sql "$r" "SELECT COUNT(*) FROM bd.seq WHERE n = 1000000000") == 1 ]] && break
        sleep 0.1 # polling a condition, bounded
    done
    if [[ $(sql "$r" "SELECT COUNT(*) FROM bd.seq WHERE n = 1000000000") == 1 ]]; then
        echo "$r: replicating from $new"
    else
        echo "$r: NOT replicating from $new"; fail=1
    fi
done
echo "total time: $((SECONDS - t0)) s"
exit $fail

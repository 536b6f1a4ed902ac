#!/usr/bin/env bash
# shellcheck disable=SC2016  # markdown backticks in single-quoted printf formats
#
# gen-mariadb-fixtures.sh -- generate MariaDB binlog / relay-log fixtures from
# REAL MariaDB servers (master + replica, classic file/position replication).
#
# Usage:
#     scripts/gen-mariadb-fixtures.sh [OUTDIR [SCENARIO...]]
#
#     OUTDIR     where to write the fixtures (default: testdata/mariadb in the
#                repository).  Each scenario goes to OUTDIR/<scenario>/, which
#                is deleted and re-created (other files in OUTDIR are left
#                alone), so the script is idempotent.
#     SCENARIO   only (re)generate these scenarios; default: all of
#                row-crc32 stmt-none mixed-master-none-replica-crc32
#                mixed-master-crc32-replica-none compressed big-trx-relay
#                crashed-master
#
# Environment: MDB_KEEP=1 keeps the temporary server directories,
# MDB_VERBOSE=1 logs every server action, PORT_BASE (default 23306) is the
# first TCP port tried (127.0.0.1 only).  See scripts/lib/mariadb.sh.
#
# Requirements: MariaDB server + client tools (mariadbd, mariadb,
# mariadb-admin, mariadb-install-db, mariadb-binlog; tested with 10.11 from
# Debian 12), bash >= 4.4, python3 (for the EVENTS.txt / README summaries).
# Runs as root or as any user that can run mariadbd (--user=root is passed,
# which is ignored for non-root users).
#
# Output layout per scenario:
#     OUTDIR/<scenario>/README.md          options, workload, observed events
#     OUTDIR/<scenario>/EVENTS.txt         per-event listing of every log file
#     OUTDIR/<scenario>/slave-status.txt   replica's final SHOW SLAVE STATUS
#     OUTDIR/<scenario>/master/mysql-bin.NNNNNN, mysql-bin.index
#     OUTDIR/<scenario>/master/mysql-bin.NNNNNN.mariadb-binlog-v.txt
#                                          `mariadb-binlog --verbose
#                                           --base64-output=decode-rows` output
#     OUTDIR/<scenario>/replica/relay-bin.NNNNNN, relay-bin.index,
#                               relay-log.info, master.info,
#                               mysql-bin.NNNNNN, mysql-bin.index (its own
#                               binlog, --log-slave-updates)
#
# Regenerated fixtures are equivalent but not byte-identical (FDE creation
# times, server ports in master.info, RAND() seeds ... differ); statement
# timestamps are pinned with SET TIMESTAMP.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=scripts/lib/mariadb.sh
source "$SCRIPT_DIR/lib/mariadb.sh"

OUTDIR=${1:-$REPO_ROOT/testdata/mariadb}
shift || true
ALL_SCENARIOS=(row-crc32 stmt-none mixed-master-none-replica-crc32
    mixed-master-crc32-replica-none compressed big-trx-relay crashed-master)
if (($# > 0)); then SCENARIOS=("$@"); else SCENARIOS=("${ALL_SCENARIOS[@]}"); fi
PORT_BASE=${PORT_BASE:-23306}
EVENTS_PY="$SCRIPT_DIR/lib/binlog_events.py"
MAX_FIXTURE_BYTES=65536

# Everything (servers, mariadb-binlog output) in UTC so printed times do not
# depend on the machine.
export TZ=UTC LC_ALL=C

for tool in mariadbd mariadb mariadb-admin mariadb-install-db mariadb-binlog; do
    command -v "$tool" >/dev/null || { echo "missing $tool (install mariadb-server mariadb-client)" >&2; exit 1; }
done
HAVE_PY=1
command -v python3 >/dev/null || HAVE_PY=0

START_TIME=$SECONDS
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
mdb_init

log() { printf '[gen %3ds] %s\n' "$((SECONDS - START_TIME))" "$*" >&2; }

# ---------------------------------------------------------------------------
# per-scenario helpers.  A scenario has servers "$SCN-master" (server-id 1)
# and "$SCN-replica" (server-id 2).

SCN=""       # current scenario name
SCN_OUT=""   # OUTDIR/$SCN
M=""         # master server name
R=""         # replica server name
WORKLOAD=""  # all SQL fed to the master, appended by run_master_sql

scenario_begin() {
    SCN=$1
    SCN_OUT=$OUTDIR/$SCN
    M=$SCN-master
    R=$SCN-replica
    WORKLOAD=""
    rm -rf -- "$SCN_OUT"
    mkdir -p "$SCN_OUT/master" "$SCN_OUT/replica"
    log "== $SCN"
}

# start_pair MASTER-OPTS... -- REPLICA-OPTS...: start both servers, wait for
# them and set up replication from mysql-bin.000001:4.
start_pair() {
    local -a mopts=() ropts=()
    while (($# > 0)) && [[ $1 != -- ]]; do mopts+=("$1"); shift; done
    (($# > 0)) && shift
    ropts=("$@")
    local p
    p=$(free_port "$PORT_BASE")
    start_server "$M" "$p" --server-id=1 "${mopts[@]}"
    p=$(free_port "$PORT_BASE")
    start_server "$R" "$p" --server-id=2 "${ropts[@]}"
    wait_ready "$M"
    wait_ready "$R"
    setup_replication "$R" "$M"
}

# run_master_sql <<SQL: run SQL (stdin) on the master in one session and
# remember it for the README.
run_master_sql() {
    local q
    q=$(cat)
    WORKLOAD+="$q"$'\n'
    sql "$M" - <<<"$q"
}

# note_workload TEXT: add a line (e.g. a comment about a replica action) to
# the workload shown in the README.
note_workload() { WORKLOAD+="$*"$'\n'; }

# record_slave_status TITLE: append the interesting SHOW SLAVE STATUS fields
# of the replica (and master/replica SHOW MASTER STATUS) to slave-status.txt.
record_slave_status() {
    local title=$1 out=$SCN_OUT/slave-status.txt f st
    st=$(slave_status "$R")
    {
        printf '# %s\n' "$title"
        printf '## replica SHOW SLAVE STATUS\n'
        for f in Slave_IO_Running Slave_SQL_Running Master_Log_File Read_Master_Log_Pos \
            Relay_Log_File Relay_Log_Pos Relay_Master_Log_File Exec_Master_Log_Pos \
            Relay_Log_Space Using_Gtid Gtid_IO_Pos Master_Server_Id Last_IO_Errno Last_SQL_Errno; do
            printf '%s: %s\n' "$f" "$(awk -F'\t' -v f="$f" '$1==f{print $2}' <<<"$st")"
        done
        printf '## master SHOW MASTER STATUS\n'
        if kill -0 "$(server_pid "$M")" 2>/dev/null; then
            sql "$M" 'SHOW MASTER STATUS' | awk -F'\t' '{print "File: " $1 "\nPosition: " $2}'
            printf 'gtid_binlog_pos: %s\n' "$(sql "$M" 'SELECT @@gtid_binlog_pos')"
        else
            printf '(master is not running)\n'
        fi
        printf '## replica SHOW MASTER STATUS (its own binlog)\n'
        sql "$R" 'SHOW MASTER STATUS' | awk -F'\t' '{print "File: " $1 "\nPosition: " $2}'
        printf 'gtid_slave_pos: %s\n' "$(sql "$R" 'SELECT @@gtid_slave_pos')"
        printf 'gtid_binlog_pos: %s\n' "$(sql "$R" 'SELECT @@gtid_binlog_pos')"
        printf '\n'
    } >>"$out"
}

# stop_replication: STOP SLAVE and wait for both threads to stop.
stop_replication() {
    sql "$R" 'STOP SLAVE'
    wait_io_stopped "$R"
    wait_sql_stopped "$R"
}

# wait_binlog_checkpoint SERVER FILE: wait until FILE (the current binlog)
# contains a Binlog_checkpoint event naming itself, i.e. the asynchronous
# checkpoint after a rotation has been written (keeps positions stable).
wait_binlog_checkpoint() {
    local name=$1 file=$2 deadline=$((SECONDS + MDB_TIMEOUT))
    while :; do
        if sql "$name" "SHOW BINLOG EVENTS IN '$file'" |
            awk -F'\t' -v f="$file" '$3=="Binlog_checkpoint" && $6==f {found=1} END {exit !found}'; then
            return 0
        fi
        ((SECONDS < deadline)) || mdb_die "no Binlog_checkpoint for $file on $name"
        sleep 0.05
    done
}

current_binlog() { sql "$1" 'SHOW MASTER STATUS' | cut -f1; }

# flush_binlogs: FLUSH BINARY LOGS on the master and wait for the new file's
# own checkpoint event so that later positions are deterministic.
flush_binlogs() {
    note_workload "FLUSH BINARY LOGS;"
    sql "$M" 'FLUSH BINARY LOGS'
    wait_binlog_checkpoint "$M" "$(current_binlog "$M")"
}

# copy_logs SERVER DEST [relay]: copy binlogs (+index) and, with "relay",
# relay logs (+index, relay-log.info, master.info) of SERVER into DEST.
copy_logs() {
    local name=$1 dest=$2 what=${3:-} data f
    data=$(server_datadir "$name")
    for f in "$data"/mysql-bin.[0-9]* "$data"/mysql-bin.index; do
        [[ -e $f ]] && cp -p -- "$f" "$dest/"
    done
    if [[ $what == relay ]]; then
        for f in "$data"/relay-bin.[0-9]* "$data"/relay-bin.index "$data"/relay-log.info "$data"/master.info; do
            [[ -e $f ]] && cp -p -- "$f" "$dest/"
        done
    fi
    chmod 0644 "$dest"/* 2>/dev/null || true
}

# finish_scenario: replica caught up -> STOP SLAVE -> record status -> clean
# shutdown of replica then master -> copy files.
finish_scenario() {
    wait_caught_up "$R" "$M"
    stop_replication
    record_slave_status "final state (after STOP SLAVE; files copied after clean shutdown of both servers)"
    stop_server "$R"
    stop_server "$M"
    copy_logs "$M" "$SCN_OUT/master"
    copy_logs "$R" "$SCN_OUT/replica" relay
}

# log_files DIR: the binlog/relay-log files (not index/info) in DIR
log_files() {
    local f
    for f in "$1"/mysql-bin.[0-9]* "$1"/relay-bin.[0-9]*; do
        [[ -e $f && $f != *.txt ]] && printf '%s\n' "$f"
    done
    return 0
}

# describe_scenario NOTES: write mariadb-binlog -v outputs, EVENTS.txt and
# README.md for the current scenario.
describe_scenario() {
    local notes=$1 f rel
    # mariadb-binlog --verbose for every master binlog (run from the directory
    # so no absolute paths end up in the output)
    for f in $(log_files "$SCN_OUT/master"); do
        [[ $f == *.truncated ]] && continue
        (cd "$SCN_OUT/master" && mariadb-binlog --no-defaults --verbose --base64-output=decode-rows \
            "$(basename "$f")" >"$(basename "$f").mariadb-binlog-v.txt" 2>&1) ||
            log "mariadb-binlog exited non-zero for $f (output kept)"
    done
    if ((HAVE_PY)); then
        # shellcheck disable=SC2046
        (cd "$SCN_OUT" && python3 "$EVENTS_PY" $(log_files master) $(log_files replica)) >"$SCN_OUT/EVENTS.txt"
    fi
    {
        printf '# MariaDB fixture: `%s`\n\n' "$SCN"
        printf 'Generated by `scripts/gen-mariadb-fixtures.sh` (function `scenario_%s`) with %s.\n' \
            "${SCN//-/_}" "$(mariadbd --version | sed 's/^.*Ver //')"
        printf 'Do not edit by hand; re-run the script to regenerate (results are equivalent, not byte-identical).\n\n'
        printf '%s\n\n' "$notes"
        printf '## Files\n\n'
        printf '| file | bytes |\n|---|---|\n'
        (cd "$SCN_OUT" && find master replica -type f ! -name '*.txt' | sort | while read -r rel; do
            printf '| `%s` | %d |\n' "$rel" "$(stat -c %s "$rel")"
        done)
        printf '\n`EVENTS.txt` lists every event of every log file (position, type, server id, size,\n'
        printf 'log_pos, header flags, whether the event carries a valid CRC32 trailer, decoded details);\n'
        printf 'it is produced by `scripts/lib/binlog_events.py`, an independent throw-away lister.\n'
        printf '`master/*.mariadb-binlog-v.txt` is `mariadb-binlog --verbose --base64-output=decode-rows FILE`\n'
        printf '(run with TZ=UTC from inside `master/`). `slave-status.txt` holds the replica'"'"'s final\n'
        printf '`SHOW SLAVE STATUS` coordinates.\n\n'
        printf '## Server options\n\n'
        local s
        for s in "$M" "$R"; do
            printf '%s (`%s`):\n\n```\n' "${s##*-}" "$s"
            sed -e "s|$MDB_WORKDIR/$s/data|<datadir>|g" -e "s|$MDB_WORKDIR/$s|<dir>|g" \
                -e 's/^--port=.*/--port=<free port >= 23306>/' "$(server_dir "$s")/options"
            printf '```\n\n'
        done
        printf 'Replication: `CHANGE MASTER TO MASTER_HOST='"'"'127.0.0.1'"'"', MASTER_PORT=<master port>, '
        printf 'MASTER_USER='"'"'%s'"'"', MASTER_PASSWORD='"'"'%s'"'"', MASTER_LOG_FILE='"'"'mysql-bin.000001'"'"', ' "$MDB_REPL_USER" "$MDB_REPL_PASSWORD"
        printf 'MASTER_LOG_POS=4, MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=no; START SLAVE;` '
        printf '(the replication user is created with sql_log_bin=0, so it is not in the binlog).\n\n'
        printf '## Workload (executed on the master, one client session per block)\n\n```sql\n%s```\n\n' "$WORKLOAD"
        if ((HAVE_PY)); then
            printf '## Observed events (per file)\n\n```\n'
            # shellcheck disable=SC2046
            (cd "$SCN_OUT" && python3 "$EVENTS_PY" --summary $(log_files master) $(log_files replica))
            printf '```\n'
        fi
    } >"$SCN_OUT/README.md"
    # size check
    for f in $(log_files "$SCN_OUT/master") $(log_files "$SCN_OUT/replica"); do
        if (($(stat -c %s "$f") > MAX_FIXTURE_BYTES)); then
            log "WARNING: $f is larger than $MAX_FIXTURE_BYTES bytes"
        fi
    done
}

# ---------------------------------------------------------------------------
# scenarios

COMMON_OPTS=(--innodb-log-file-size=4M --skip-slave-start
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci)

scenario_row_crc32() {
    scenario_begin row-crc32
    start_pair "${COMMON_OPTS[@]}" --binlog-format=ROW --binlog-checksum=CRC32 \
        -- "${COMMON_OPTS[@]}" --binlog-format=ROW --binlog-checksum=CRC32
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000000;
CREATE DATABASE fx CHARACTER SET utf8mb4;
USE fx;
CREATE TABLE t1 (
  id      INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name    VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL,
  amount  DECIMAL(10,2),
  created DATETIME(6),
  payload BLOB,
  doc     JSON
) ENGINE=InnoDB;
CREATE TABLE m1 (id INT NOT NULL PRIMARY KEY, note VARCHAR(32)) ENGINE=MyISAM;
SET TIMESTAMP = 1700000001;
INSERT INTO t1 (name, amount, created, payload, doc)
  VALUES ('alpha', 12.34, '2023-11-14 22:13:21.123456', x'00ff10', '{"a": 1}');
SET TIMESTAMP = 1700000002;
BEGIN;
INSERT INTO t1 (name, amount, created, payload, doc) VALUES
  ('béta ✓ 日本', -0.50, '2023-11-14 22:13:22.000001', NULL, '{"b": [1, 2, "x"]}'),
  ('gamma', 99999999.99, '1999-12-31 23:59:59.999999', REPEAT(x'ab', 40), NULL),
  ('delta', 0.00, NULL, '', '[]');
UPDATE t1 SET amount = amount + 1, doc = JSON_SET(doc, '$.u', true) WHERE id IN (1, 2);
DELETE FROM t1 WHERE name = 'gamma';
COMMIT;
SET TIMESTAMP = 1700000003;
INSERT INTO m1 VALUES (1, 'myisam autocommit');
-- pure InnoDB rollback: nothing reaches the binlog
BEGIN;
INSERT INTO t1 (name) VALUES ('rolled back');
UPDATE t1 SET amount = 0;
ROLLBACK;
-- mixed InnoDB + MyISAM rollback, ROW format: only the MyISAM row is logged
-- (non-transactional rows go to the statement cache), ending in COMMIT
SET TIMESTAMP = 1700000004;
BEGIN;
INSERT INTO t1 (name) VALUES ('mixed rollback (innodb part)');
INSERT INTO m1 VALUES (2, 'survives rollback');
ROLLBACK;
-- the same with a STATEMENT-format session: the whole transaction is logged,
-- ending in a ROLLBACK query event
SET SESSION binlog_format = 'STATEMENT';
BEGIN;
INSERT INTO t1 (name) VALUES ('stmt rollback (innodb part)');
INSERT INTO m1 VALUES (3, 'survives stmt rollback');
ROLLBACK;
SET SESSION binlog_format = 'ROW';
SET TIMESTAMP = 1700000005;
ALTER TABLE t1 ADD COLUMN flag TINYINT NOT NULL DEFAULT 0 AFTER name;
SET TIMESTAMP = 1700000006;
XA START 'x1';
INSERT INTO t1 (name, flag) VALUES ('xa row', 1);
XA END 'x1';
XA PREPARE 'x1';
XA COMMIT 'x1';
SQL
    flush_binlogs
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000010;
USE fx;
BEGIN;
UPDATE t1 SET flag = 2, doc = NULL WHERE id = 1;
DELETE FROM t1 WHERE id = 4;
INSERT INTO t1 (name, amount) VALUES ('after flush', 1.00);
COMMIT;
SET TIMESTAMP = 1700000011;
UPDATE m1 SET note = 'myisam update' WHERE id = 2;
SQL
    finish_scenario
    describe_scenario "$(cat <<'EOF'
Master: `binlog_format=ROW`, `binlog_checksum=CRC32`; one replica (ROW, CRC32,
`log_slave_updates`). The master binlog is rotated once with `FLUSH BINARY LOGS`
(`mysql-bin.000001` ends with a real ROTATE, `mysql-bin.000002` with STOP after the
clean shutdown).

Interesting features:
- InnoDB table with INT AUTO_INCREMENT PK, utf8mb4 VARCHAR (multi-byte text),
  DECIMAL(10,2) (incl. negative / max values), DATETIME(6), BLOB (NULL, empty,
  binary), JSON (MariaDB: LONGTEXT alias with CHECK, so it is logged as a BLOB
  column); a MyISAM table.
- multi-statement transaction with WRITE_ROWS / UPDATE_ROWS / DELETE_ROWS
  (v1 events, 23/24/25) each preceded by ANNOTATE_ROWS (160) and TABLE_MAP (19),
  ending with XID (16).
- the pure-InnoDB ROLLBACK writes nothing.  The mixed InnoDB+MyISAM ROLLBACK
  in ROW format logs only the MyISAM row, as its own group GTID + rows + QUERY
  `COMMIT` (GTID not TRANSACTIONAL).  The same rollback in a STATEMENT-format
  session logs the whole group: GTID + QUERY(insert t1) + QUERY(insert m1) +
  QUERY `ROLLBACK` -- a group that ends in ROLLBACK.
- MariaDB writes no `BEGIN` query event: a GTID event without the STANDALONE
  flag opens the group; InnoDB groups end in XID, non-transactional ones in a
  QUERY `COMMIT` (on the replica, whose mysql.gtid_slave_pos is InnoDB, the same
  MyISAM groups end in XID in its own binlog).
- DDL (CREATE/ALTER) is a standalone GTID (flags STANDALONE|DDL) + QUERY.
- XA: `XA START; INSERT; XA END; XA PREPARE` is logged as GTID (flag
  PREPARED_XA, carries the XID) + rows + QUERY `XA END X'7831',X'',1` +
  XA_PREPARE (38) event; `XA COMMIT` is a separate standalone GTID (flag
  COMPLETED_XA) + QUERY `XA COMMIT X'7831',X'',1`.
- relay logs: master events are copied verbatim (master's log_pos and CRC32);
  see the "Relay logs" notes in `../README.md`.
EOF
)"
}

scenario_stmt_none() {
    scenario_begin stmt-none
    start_pair "${COMMON_OPTS[@]}" --binlog-format=STATEMENT --binlog-checksum=NONE \
        -- "${COMMON_OPTS[@]}" --binlog-format=STATEMENT --binlog-checksum=NONE
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000100;
SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT,NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES';
SET SESSION time_zone = '+05:30';
SET SESSION auto_increment_increment = 5, auto_increment_offset = 3;
CREATE DATABASE fx;
USE fx;
CREATE TABLE s1 (
  id  INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  t   DATETIME,
  ts  TIMESTAMP NULL,
  r   DOUBLE,
  v   VARCHAR(64)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE l1 (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, txt VARCHAR(64)) ENGINE=InnoDB DEFAULT CHARSET=latin1;
INSERT INTO s1 (t, ts, r, v) VALUES (NOW(), NOW(), RAND(42), 'now + rand(42)');
INSERT INTO s1 (t, r, v) VALUES (NOW(), RAND(), 'unseeded rand -> RAND event');
SET @a = 'user var', @n = 42, @d = 1.5, @nul = NULL;
INSERT INTO s1 (v, r) VALUES (@a || '/' || @n, @d);
INSERT INTO s1 (v) VALUES (@nul);
INSERT INTO s1 (v) VALUES ('for last_insert_id');
INSERT INTO s1 (v, r) VALUES ('uses LAST_INSERT_ID()', LAST_INSERT_ID());
SET TIMESTAMP = 1700000101;
BEGIN;
UPDATE s1 SET v = v || '!' WHERE id <= 8;
DELETE FROM s1 WHERE v IS NULL;
INSERT INTO l1 (txt) VALUES ('plain ascii');
COMMIT;
SQL
    # latin1 session with raw 0xE9 / 0xEF bytes (not valid UTF-8) in literals and
    # in comments; --comments keeps the comments in the statement text.
    local raw
    raw=$(printf '%s\n' \
        "SET TIMESTAMP = 1700000102;" \
        "USE fx;" \
        "INSERT INTO l1 (txt) VALUES ('caf\xe9') /* raw byte \xe9 in a comment */;" \
        "/* leading comment na\xefve */ INSERT INTO l1 (txt) VALUES ('na\xefve \xa9');" \
        "UPDATE l1 SET txt = CONCAT(txt, ' \xe9t\xe9') WHERE id = 9;")
    printf '%b\n' "$raw" | sql_raw "$M" --default-character-set=latin1 --comments
    note_workload "-- client: mariadb --binary-mode --comments --default-character-set=latin1, stdin bytes"
    note_workload "-- (\\xNN = raw byte, the file contains the byte itself, not the escape):"
    WORKLOAD+="$raw"$'\n'
    flush_binlogs
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000110;
USE fx;
INSERT INTO s1 (v) VALUES ('after flush');
-- matches no row: still logged in STATEMENT format, group ends in QUERY COMMIT
DELETE FROM l1 WHERE id = 1;
SQL
    finish_scenario
    describe_scenario "$(cat <<'EOF'
Master and replica: `binlog_format=STATEMENT`, `binlog_checksum=NONE` (no CRC
trailers at all; the FDE's checksum algorithm byte is 0 = OFF).

Interesting features:
- QUERY events with non-default status variables: `sql_mode`
  (ANSI_QUOTES, PIPES_AS_CONCAT, NO_AUTO_VALUE_ON_ZERO, STRICT_ALL_TABLES),
  `time_zone='+05:30'`, `auto_increment_increment=5/offset=3`, charset latin1.
- `NOW()` is replayed through the event timestamp (SET TIMESTAMP pinned it).
- `RAND(42)` needs nothing extra; unseeded `RAND()` produces a RAND event (13).
- user variables: USER_VAR events (14) for a string, an integer, a decimal and
  a NULL variable, right before their QUERY.
- `LAST_INSERT_ID()` / AUTO_INCREMENT: INTVAR events (5) LAST_INSERT_ID and
  INSERT_ID before the QUERY.
- latin1 session: statement text holds raw 0xE9/0xEF/0xA9 bytes (not valid
  UTF-8) inside string literals and inside `/* ... */` comments (the leading
  comment is kept too).  Decoders must not assume UTF-8 query text.
- the FDE carries a valid CRC32 even though binlog_checksum=NONE (a
  checksum-aware server always checksums its FDE; the algorithm byte says OFF).
- `DELETE FROM l1 WHERE id = 1` changes no row, so InnoDB is never touched and
  its group ends in a QUERY `COMMIT` instead of XID.
- exec_time in QUERY events is (real time - pinned SET TIMESTAMP), i.e. large.
EOF
)"
}

mixed_workload() {
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000200;
CREATE DATABASE fx;
USE fx;
CREATE TABLE m (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, u VARCHAR(40), n INT) ENGINE=InnoDB;
-- safe: logged as statement
INSERT INTO m (u, n) VALUES ('safe', 1), ('safe2', 2);
-- unsafe (LIMIT without ORDER BY): MIXED switches to row format
INSERT INTO m (u, n) SELECT CONCAT('copy-', u), n + 100 FROM m LIMIT 1;
SET TIMESTAMP = 1700000201;
BEGIN;
UPDATE m SET n = n + 10 WHERE id = 1;
INSERT INTO m (u, n) SELECT 'unsafe-in-trx', COUNT(*) FROM m LIMIT 1;
COMMIT;
SQL
    flush_binlogs
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000202;
USE fx;
DELETE FROM m WHERE id = 2;
UPDATE m SET u = 'last' WHERE id = 1;
SQL
}

scenario_mixed_master_none_replica_crc32() {
    scenario_begin mixed-master-none-replica-crc32
    start_pair "${COMMON_OPTS[@]}" --binlog-format=MIXED --binlog-checksum=NONE \
        -- "${COMMON_OPTS[@]}" --binlog-format=MIXED --binlog-checksum=CRC32
    mixed_workload
    finish_scenario
    describe_scenario "$(cat <<'EOF'
Master: `binlog_format=MIXED`, `binlog_checksum=NONE`.  Replica: MIXED,
`binlog_checksum=CRC32`.  Exists to test checksum handling when the relay log's
own FDE (written by the replica) and the master's FDE (copied into the relay
log) disagree.

Interesting features:
- MIXED format: safe statements are QUERY events, the unsafe
  `INSERT ... SELECT ... LIMIT` statements are logged as TABLE_MAP + WRITE_ROWS
  (with ANNOTATE_ROWS), also inside a multi-statement transaction.
- relay logs (`replica/relay-bin.*`):
  - `relay-bin.000001` / `000002` start with the replica's FDE saying CRC32
    (the master's algorithm is not known yet), followed in `000002` by the fake
    ROTATE *with* CRC32, then the master's FDE (algorithm OFF, but itself
    checksummed) and the master's events *without* CRC.  The relay log's own
    ROTATE at the end of `000002` has *no* CRC although that file's first FDE
    says CRC32.
  - from `relay-bin.000003` on, the replica's own FDE says OFF (it adopted the
    master's algorithm), and its fake ROTATE / ROTATE / STOP have no CRC.
  - rule that explains every event: an event's checksum follows the most recent
    FDE before it in the same file (the relay log's own or the master's).
- the replica's own binlog (`replica/mysql-bin.*`) has CRC32 on every event.
EOF
)"
}

scenario_mixed_master_crc32_replica_none() {
    scenario_begin mixed-master-crc32-replica-none
    start_pair "${COMMON_OPTS[@]}" --binlog-format=MIXED --binlog-checksum=CRC32 \
        -- "${COMMON_OPTS[@]}" --binlog-format=MIXED --binlog-checksum=NONE
    mixed_workload
    finish_scenario
    describe_scenario "$(cat <<'EOF'
Master: `binlog_format=MIXED`, `binlog_checksum=CRC32`.  Replica: MIXED,
`binlog_checksum=NONE`.  The mirror image of `mixed-master-none-replica-crc32`
(same workload).

Interesting features:
- relay logs: `relay-bin.000001`/`000002` start with the replica's FDE saying
  OFF and (in `000002`) a fake ROTATE without CRC; then the master's FDE
  (CRC32) and the master's events with their original CRC32; the relay log's own
  ROTATE at the end of `000002` *has* a CRC32 although that file's own FDE says
  OFF.  From `relay-bin.000003` on the replica's FDE says CRC32 (adopted from the
  master) and all its own events carry CRC32.  Rule: an event's checksum follows
  the most recent FDE before it in the same file.
- the replica's own binlog has no checksums at all (its FDE is still
  checksummed, algorithm byte OFF).
EOF
)"
}

scenario_compressed() {
    scenario_begin compressed
    start_pair "${COMMON_OPTS[@]}" --binlog-format=ROW --binlog-checksum=CRC32 \
        --log-bin-compress=ON --log-bin-compress-min-len=10 \
        -- "${COMMON_OPTS[@]}" --binlog-format=ROW --binlog-checksum=CRC32
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000300;
CREATE DATABASE fx;
USE fx;
CREATE TABLE c (id INT NOT NULL PRIMARY KEY, txt VARCHAR(400), n BIGINT) ENGINE=InnoDB;
INSERT INTO c VALUES (1, REPEAT('compress me ', 30), 1), (2, REPEAT('abc', 100), 2), (3, 'short', 3);
BEGIN;
UPDATE c SET txt = REPEAT('updated ', 40), n = n * 1000 WHERE id <= 2;
DELETE FROM c WHERE id = 3;
COMMIT;
SET SESSION binlog_format = 'STATEMENT';
SET TIMESTAMP = 1700000301;
INSERT INTO c VALUES (10, REPEAT('statement-based row ', 10), 10);
UPDATE c SET n = n + 1 WHERE id = 10;
SET SESSION binlog_format = 'ROW';
INSERT INTO c VALUES (4, 'x', 4);
SQL
    flush_binlogs
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000310;
USE fx;
BEGIN;
INSERT INTO c VALUES (5, REPEAT('after flush ', 20), 5);
UPDATE c SET txt = 'y' WHERE id = 4;
DELETE FROM c WHERE id = 1;
COMMIT;
SQL
    finish_scenario
    describe_scenario "$(cat <<'EOF'
Master: `binlog_format=ROW`, `binlog_checksum=CRC32`, `log_bin_compress=ON`,
`log_bin_compress_min_len=10`; a few statements run with session
`binlog_format=STATEMENT`.  Replica: ROW, CRC32, *no* compression.

Interesting features:
- QUERY_COMPRESSED (165) for DDL and statement-format DML (only when the query
  text is >= 10 bytes: `BEGIN`/`COMMIT` stay plain QUERY events),
  WRITE_ROWS_COMPRESSED_V1 (166), UPDATE_ROWS_COMPRESSED_V1 (167),
  DELETE_ROWS_COMPRESSED_V1 (168).  ANNOTATE_ROWS / TABLE_MAP / GTID / XID are
  never compressed.  Compressed payload: 1 header byte (0x80 | number of length
  bytes) + big-endian uncompressed length + zlib stream.  In QUERY_COMPRESSED
  it replaces the query text (after `db\0`); in *_ROWS_COMPRESSED_V1 only the
  row images are compressed -- table_id, flags, column count and the column
  bitmap(s) stay plain.
- the relay log keeps the compressed events exactly as received; the replica's
  own binlog (no compression configured, binlog_format=ROW) has plain
  WRITE/UPDATE/DELETE_ROWS_V1 events, and the master's statement-format DML
  appear there as row events without ANNOTATE_ROWS.
EOF
)"
}

scenario_big_trx_relay() {
    scenario_begin big-trx-relay
    local mdata rdata
    mdata=$(server_datadir "$M")
    rdata=$(server_datadir "$R")
    # absolute log paths in this scenario: index files / relay-log.info then
    # contain (non-existent on your machine) absolute paths
    start_pair "${COMMON_OPTS[@]}" --binlog-format=ROW --binlog-checksum=CRC32 \
        --log-bin="$mdata/mysql-bin" --relay-log="$mdata/relay-bin" \
        -- "${COMMON_OPTS[@]}" --binlog-format=ROW --binlog-checksum=CRC32 \
        --log-bin="$rdata/mysql-bin" --relay-log="$rdata/relay-bin" --max-relay-log-size=4096
    local big i letters=ABCDEFGHIJKLMNOPQRSTUVWXYZ
    big=$'SET TIMESTAMP = 1700000401;\nUSE fx;\nBEGIN;\n'
    for i in $(seq 1 30); do
        big+="INSERT INTO big VALUES ($((i + 100)), REPEAT('${letters:i%26:1}', 500));"$'\n'
    done
    big+=$'COMMIT;'
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000400;
CREATE DATABASE fx;
USE fx;
CREATE TABLE big (id INT NOT NULL PRIMARY KEY, pad VARCHAR(600)) ENGINE=InnoDB;
INSERT INTO big VALUES (1, REPEAT('small', 10));
SQL
    run_master_sql <<<"$big"
    wait_caught_up "$R" "$M"
    note_workload "-- replica: STOP SLAVE IO_THREAD"
    sql "$R" 'STOP SLAVE IO_THREAD'
    wait_io_stopped "$R"
    wait_sql_applied "$R"
    record_slave_status "after the big transaction, IO thread stopped (STOP SLAVE IO_THREAD)"
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000402;
USE fx;
INSERT INTO big VALUES (2, 'written while the replica IO thread was stopped');
UPDATE big SET pad = 'updated while stopped' WHERE id = 101;
SQL
    note_workload "-- replica: START SLAVE IO_THREAD"
    sql "$R" 'START SLAVE IO_THREAD'
    wait_io_running "$R"
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000403;
USE fx;
DELETE FROM big WHERE id BETWEEN 101 AND 110;
SQL
    finish_scenario
    describe_scenario "$(cat <<'EOF'
Master: ROW, CRC32 (default max_binlog_size).  Replica: ROW, CRC32,
`max_relay_log_size=4096` (the minimum).  Both servers use *absolute* paths for
`--log-bin` / `--relay-log` here, so `mysql-bin.index`, `relay-bin.index` and
`relay-log.info` contain absolute paths of the (deleted) temporary datadir --
readers must resolve entries by file name.

Interesting features:
- one transaction (GTID 0-1-4) of 30 row inserts x ~500 bytes (~16 KiB) is
  larger than max_relay_log_size, so the IO thread rotates the relay log
  *inside* the transaction: it starts in `relay-bin.000002` and its XID is in
  `relay-bin.000007`.  A relay log rotated for size starts with the replica's
  FDE followed by a copy of the master's FDE flagged ARTIFICIAL with log_pos 0
  (no fake ROTATE), then continues mid-transaction (ANNOTATE/TABLE_MAP/rows).
  The master binlog never splits a transaction.
- `STOP SLAVE IO_THREAD` after that transaction, two transactions (0-1-5,
  0-1-6) on the master, `START SLAVE IO_THREAD`, one more (0-1-7): the restart
  opens `relay-bin.000008` with the replica's FDE, a fake ROTATE (ARTIFICIAL,
  log_pos 0, `mysql-bin.000001:<resume position>`) and the master's FDE with
  log_pos 0 but *without* the ARTIFICIAL flag (sent by the master because the
  dump did not start at position 4).  0-1-7's 10-row DELETE pushes
  `relay-bin.000008` over the limit, so its XID lands in `relay-bin.000009`
  (again after an ARTIFICIAL master FDE).  `slave-status.txt` has the status at
  the IO stop and the final one.
EOF
)"
}

scenario_crashed_master() {
    scenario_begin crashed-master
    start_pair "${COMMON_OPTS[@]}" --binlog-format=ROW --binlog-checksum=CRC32 \
        -- "${COMMON_OPTS[@]}" --binlog-format=ROW --binlog-checksum=CRC32
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000500;
CREATE DATABASE fx;
USE fx;
CREATE TABLE k (id INT NOT NULL PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB;
INSERT INTO k VALUES (1, 'one'), (2, 'two');
SQL
    flush_binlogs
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000501;
USE fx;
BEGIN;
INSERT INTO k VALUES (3, 'three');
UPDATE k SET v = 'ONE' WHERE id = 1;
COMMIT;
SQL
    wait_caught_up "$R" "$M"
    note_workload "-- replica: STOP SLAVE IO_THREAD (replica stays behind from here on)"
    sql "$R" 'STOP SLAVE IO_THREAD'
    wait_io_stopped "$R"
    run_master_sql <<'SQL'
SET TIMESTAMP = 1700000502;
USE fx;
INSERT INTO k VALUES (4, 'not on replica');
BEGIN;
DELETE FROM k WHERE id = 2;
UPDATE k SET v = 'changed, not on replica' WHERE id = 3;
COMMIT;
SQL
    note_workload "-- master: kill -9 (SIGKILL) while idle"
    kill_server "$M"
    # copy the crashed master's files as they are on disk
    copy_logs "$M" "$SCN_OUT/master"
    local -a bins=("$SCN_OUT"/master/mysql-bin.[0-9]*)
    local last=${bins[-1]##*/}
    head -c -7 "$SCN_OUT/master/$last" >"$SCN_OUT/master/$last.truncated"
    wait_sql_applied "$R"
    stop_replication
    record_slave_status "final state of the replica (its IO thread was stopped before the last two master transactions; master SIGKILLed afterwards)"
    stop_server "$R"
    copy_logs "$R" "$SCN_OUT/replica" relay
    describe_scenario "$(cat <<EOF
Master: ROW, CRC32, killed with SIGKILL while idle (after the last commit
returned).  Replica: ROW, CRC32; its IO thread was stopped before the master's
last two transactions, so those exist only in the master's last binlog.

Interesting features:
- \`master/$last\` was copied as-is after the SIGKILL: its FDE still has the
  LOG_EVENT_BINLOG_IN_USE_F flag (0x1) set and the file ends after the last
  XID -- no STOP or ROTATE event.  \`mysql-bin.000001\` (rotated by FLUSH
  BINARY LOGS) is closed normally (IN_USE cleared, ends with ROTATE).
- \`master/$last.truncated\` is the same file with its last 7 bytes cut off
  (the final XID event is incomplete) -- a torn write.  No
  mariadb-binlog-v output is produced for it (mariadb-binlog prints
  \`ERROR: Error in Log_event::read_log_event(): 'Event truncated', data_len: 31,
  event_type: 16\` on stderr and still exits 0).
- the IN_USE FDE's CRC32 does *not* match the bytes as stored: the server
  computes it with the IN_USE flag cleared (EVENTS.txt marks it \`crc32*\`).
- failover diff: the replica's relay log / \`slave-status.txt\` end after the
  \`INSERT (3) + UPDATE k SET v = 'ONE'\` transaction (GTID 0-1-4); the two
  transactions after it (GTIDs 0-1-5 and 0-1-6) exist only in the crashed
  master's last binlog -- those are what a failover must recover.
EOF
)"
}

# ---------------------------------------------------------------------------

write_top_readme() {
    local f=$OUTDIR/README.md
    # fixtures are byte-exact: never let git convert line endings
    printf '%s\n' '# generated by scripts/gen-mariadb-fixtures.sh: keep fixture bytes exact' \
        '* -text' 'mysql-bin.[0-9]* -diff' 'relay-bin.[0-9]* -diff' '*.txt diff' >"$OUTDIR/.gitattributes"
    {
        cat <<'EOF'
# MariaDB binlog / relay-log fixtures

Produced by `scripts/gen-mariadb-fixtures.sh [OUTDIR [SCENARIO...]]` (default
OUTDIR: `testdata/mariadb`) from real MariaDB servers (master + replica with
classic file/position replication, `MASTER_USE_GTID=no`).  Each scenario
directory has its own README.md (server options, workload, observed events),
EVENTS.txt (per-event listing), slave-status.txt, `master/` and `replica/`.

| scenario | what |
|---|---|
| `row-crc32` | ROW + CRC32; many column types, multi-statement trx, rollbacks, DDL, XA, rotation |
| `stmt-none` | STATEMENT + no checksums; NOW/RAND/user vars/LAST_INSERT_ID/INTVAR, sql_mode, time_zone, latin1 + raw non-UTF-8 bytes |
| `mixed-master-none-replica-crc32` | MIXED; master without checksums, replica with CRC32 |
| `mixed-master-crc32-replica-none` | MIXED; master with CRC32, replica without |
| `compressed` | `log_bin_compress=ON`: QUERY_COMPRESSED and *_ROWS_COMPRESSED_V1 events |
| `big-trx-relay` | `max_relay_log_size=4096`: one transaction spanning several relay logs; IO thread restart; absolute paths in index files |
| `crashed-master` | master SIGKILLed: last binlog still IN_USE, plus a truncated copy; replica behind |


## Relay logs (observed with MariaDB 10.11)

- A relay log file starts with the *replica's* FDE (server_id of the replica,
  flag RELAY_LOG 0x40).  `relay-bin.000001` holds only that FDE and a ROTATE to
  `relay-bin.000002` (it is created by CHANGE MASTER; START SLAVE rotates).
- When the IO thread (re)connects it writes a **fake ROTATE**: server_id of the
  *master*, log_pos 0, flag ARTIFICIAL (0x20), body = master position (8 bytes)
  + master file name.  Then comes the master's FDE (log_pos 256 when the dump
  starts at 4, log_pos 0 when it resumes mid-file).
- Events received from the master are copied **verbatim**: master server_id,
  master log_pos (end position in the *master's* binlog, not in the relay log),
  and the master's checksum trailer -- nothing is recomputed.
- The replica's own events in the relay log (its FDE, the ROTATE to the next
  relay file with flag RELAY_LOG, the STOP written when the replica shuts down,
  the fake ROTATE) use the checksum algorithm of the *master* once the master's
  FDE has been seen, and the replica's own `binlog_checksum` before that.  So
  in every file: an event has a CRC32 trailer iff the most recent FDE before it
  (the relay log's own or the master's) says CRC32.  See the two `mixed-*`
  scenarios.
- When the master rotates (FLUSH BINARY LOGS) the relay log gets the master's
  real ROTATE (log_pos = end of the old master file, no ARTIFICIAL flag) and the
  IO thread immediately rotates the relay log too: a short relay file with FDE,
  master ROTATE, relay ROTATE; the next relay file starts with FDE + fake ROTATE
  + master FDE.
- When the relay log rotates because of `max_relay_log_size`, the new file gets
  the replica's FDE followed by a copy of the master's FDE with flag ARTIFICIAL
  and log_pos 0 (no fake ROTATE) and may start in the middle of a transaction
  (`big-trx-relay`).
- A clean replica shutdown appends a STOP event (server_id of the replica, no
  RELAY_LOG flag) to the current relay log.

## relay-log.info / master.info (MariaDB 10.11 format)

`relay-log.info`: line 1 is the number of lines that follow it (`5`), then
the relay log file name (as in relay-bin.index, e.g. `./relay-bin.000004`),
relay log position, master log file, master log position (=
Exec_Master_Log_Pos), SQL_Delay.  The server rewrites the file in place without
truncating it, so stale bytes of an earlier, longer version can follow (the
fixtures have an extra `0` or empty line): readers must stop after the
announced line count.

`master.info`: line 1 is the line count (`33`), then Master_Log_File,
Read_Master_Log_Pos, host, user, password (plain text), port, connect_retry,
SSL settings, heartbeat period, ..., then `key=value` lines (`using_gtid=0`,
`do_domain_ids=0`, `ignore_domain_ids=0`) and `END_MARKER`.

## Binlogs

- MariaDB writes no BEGIN query event: a GTID event (162) without the
  STANDALONE flag opens a group; it ends with XID (InnoDB) or a QUERY `COMMIT`
  / `ROLLBACK` (non-transactional changes).
- The FDE always carries a valid CRC32, even with binlog_checksum=NONE (its
  algorithm byte is then 0).  In a binlog that is open or was not closed
  (`crashed-master`), the FDE has flag IN_USE (0x1) and its CRC32 was computed
  with that flag cleared.
- Statement timestamps are pinned with `SET TIMESTAMP`; QUERY events'
  exec_time therefore holds (real time - pinned time), a large number.
EOF
    } >"$f"
}

main() {
    local s
    for s in "${SCENARIOS[@]}"; do
        case $s in
        row-crc32 | stmt-none | mixed-master-none-replica-crc32 | mixed-master-crc32-replica-none | \
            compressed | big-trx-relay | crashed-master)
            "scenario_${s//-/_}"
            ;;
        *) mdb_die "unknown scenario $s (known: ${ALL_SCENARIOS[*]})" ;;
        esac
    done
    write_top_readme
    log "done: $(du -sb "$OUTDIR" | cut -f1) bytes in $OUTDIR, $((SECONDS - START_TIME))s"
}

main

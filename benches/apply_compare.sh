#!/usr/bin/env bash
#
# benches/apply_compare.sh -- the native applier (`binlog-diff apply`,
# serial, `--parallel 2` and `--parallel 4`) vs MHA's way
# (`mariadb-binlog FILES | mariadb --binary-mode`) on the same diff of at
# least 300 MiB, each applied to a fresh server.
#
# Usage:  benches/apply_compare.sh
#
# Steps
#   1. Generate (once; cached in $BENCH_DIR/data, reruns skip it) a binlog of
#      >= BENCH_MIN_BYTES (330,000,000 bytes) with a throw-away master on 127.0.0.1
#      (MariaDB, binlog-format=ROW, binlog_checksum=CRC32, max_binlog_size
#      1 GiB so it stays one file): the schema, then many smallish
#      transactions on InnoDB tables with primary keys (1-10 KiB each:
#      multi-row INSERTs, ranged UPDATEs with full row images, DELETE +
#      INSERT, each with an audit-row INSERT). The master's table checksums
#      and GTID position are saved with it. The master's binlog is a valid
#      diff for `binlog-diff apply` and for mariadb-binlog: it is applied
#      whole, schema included, to empty servers.
#   2. cargo build --release.
#   3. For each of BENCH_RUNS rounds (default 2, best reported), on a fresh
#      server each (same datadir template, same options: ROW, log_bin on as a
#      replica would have, innodb_flush_log_at_trx_commit=2, sync_binlog=0,
#      1 GiB buffer pool), one server running at a time:
#        pipe:  mariadb-binlog FILES | mariadb --binary-mode -uroot --socket=S
#        ours:  binlog-diff apply --socket S --user root FILES
#        par2:  binlog-diff apply --parallel 2 --socket S --user root FILES
#        par4:  binlog-diff apply --parallel 4 --socket S --user root FILES
#      (even rounds run them in the reverse order). Every server's CHECKSUM
#      TABLE and gtid_binlog_pos must equal the master's.
#   4. Print wall times, MB/s, events/s, transactions/s and the ratios to
#      the pipe; for every run also the CPU time of the server and of the
#      client side (GNU time) and the statements the server received
#      (`Questions`).
#
# Environment
#   BENCH_DIR        cache directory (default /tmp/binlog-diff-bench-apply)
#   BENCH_MIN_BYTES  binlog bytes to generate (default 330000000, > 300 MiB)
#   BENCH_RUNS       rounds (default 2; fresh servers every time)
#   BENCH_WHO        what to run (default "pipe ours par2 par4")
#   BENCH_REGEN=1    discard the cached binlog and generate again
#   PORT_BASE        first TCP port tried for the servers (default 33606)
#
# Servers are started and stopped only by this script (by pid; an EXIT trap
# kills what is left). Waits poll a condition; nothing sleeps to synchronise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/binlog-diff-bench-apply}
MIN_BYTES=${BENCH_MIN_BYTES:-330000000}
RUNS=${BENCH_RUNS:-2}
DATA=$BENCH_DIR/data
STAMP=$DATA/.complete
TABLES="ap.t, ap.audit"

log() { printf '[apply_compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[apply_compare] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=../scripts/lib/mariadb.sh
source "$ROOT/scripts/lib/mariadb.sh"

on_exit() {
    local rc=$?
    if [[ -n ${MDB_WORKDIR:-} ]]; then mdb_cleanup || true; fi
    exit "$rc"
}

# The servers of this run live in one work dir under $BENCH_DIR.
mkdir -p "$BENCH_DIR"
MDB_WORKDIR=$(mktemp -d "$BENCH_DIR/servers.XXXXXX")
export MDB_WORKDIR
mdb_init
trap on_exit EXIT
PORT=$(free_port "${PORT_BASE:-33606}")

# ---------------------------------------------------------------------------
# 1. the binlog

# workload ROUND FIRST_ID TRX: SQL for TRX transactions on stdin of one
# session (deterministic for a round). FIRST_ID: ids 1..FIRST_ID-1 of ap.t
# were inserted before (some since deleted).
workload() {
    python3 - "$@" <<'PY'
import random, string, sys
rnd = random.Random(int(sys.argv[1]))
max_id = int(sys.argv[2]) - 1
n_trx = int(sys.argv[3])
pool = "".join(rnd.choices(string.ascii_letters + string.digits, k=1 << 20))
def pad(lo, hi):
    n = rnd.randint(lo, hi)
    o = rnd.randrange(0, len(pool) - n)
    return pool[o:o + n]
out = sys.stdout
for i in range(n_trx):
    r = rnd.random()
    q = ["BEGIN;"]
    if r < 0.5 or max_id < 100:
        rows = rnd.randint(2, 8)
        vals = ",".join("(%d,'%s','%s')" % (rnd.randrange(1 << 30), pad(40, 40), pad(200, 900)) for _ in range(rows))
        q.append("INSERT INTO ap.t (k, c, pad) VALUES %s;" % vals)
        first = max_id + 1
        max_id += rows
        q.append("INSERT INTO ap.audit (t_id, note, ts) VALUES (%d, 'insert %d rows', NOW(6));" % (first, rows))
    elif r < 0.85:
        lo = rnd.randint(1, max_id)
        hi = lo + rnd.randint(0, 5)
        q.append("UPDATE ap.t SET n = n + 1, k = k + %d, pad = CONCAT(SUBSTRING(pad, 33), '%s') WHERE id BETWEEN %d AND %d;"
                 % (rnd.randint(1, 9), pad(32, 32), lo, hi))
        q.append("INSERT INTO ap.audit (t_id, note, ts) VALUES (%d, 'update %d..%d', NOW(6));" % (lo, lo, hi))
    else:
        lo = rnd.randint(1, max_id)
        q.append("DELETE FROM ap.t WHERE id BETWEEN %d AND %d;" % (lo, lo + 1))
        rows = rnd.randint(1, 3)
        vals = ",".join("(%d,'%s','%s')" % (rnd.randrange(1 << 30), pad(40, 40), pad(300, 1500)) for _ in range(rows))
        q.append("INSERT INTO ap.t (k, c, pad) VALUES %s;" % vals)
        max_id += rows
        q.append("INSERT INTO ap.audit (t_id, note, ts) VALUES (%d, 'delete %d, insert %d', NOW(6));" % (lo, lo, rows))
    q.append("COMMIT;")
    out.write("\n".join(q) + "\n")
PY
}

generate() {
    log "generating >= $MIN_BYTES bytes of binlog into $DATA"
    rm -rf -- "$DATA"
    local t0=$SECONDS
    start_server master "$PORT" --server-id=1 \
        --binlog-format=ROW --binlog-checksum=CRC32 --max-binlog-size=1073741824 \
        --sync-binlog=0 --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=512M \
        --innodb-log-file-size=512M --max-allowed-packet=256M
    wait_ready master 120
    sql master <<'SQL'
CREATE DATABASE ap;
CREATE TABLE ap.t (
  id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  k INT UNSIGNED NOT NULL,
  n INT NOT NULL DEFAULT 0,
  c CHAR(40) NOT NULL,
  pad VARCHAR(2000) NOT NULL,
  KEY k (k)
) ENGINE=InnoDB;
CREATE TABLE ap.audit (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  t_id INT UNSIGNED NOT NULL,
  note VARCHAR(200) NOT NULL,
  ts DATETIME(6) NOT NULL
) ENGINE=InnoDB;
SQL
    local round=0 have next
    have=$(sql master 'SHOW BINARY LOGS' | awk '{s += $2} END {print s + 0}')
    while ((have < MIN_BYTES)); do
        round=$((round + 1))
        next=$(sql master "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ap' AND TABLE_NAME = 't'")
        workload "$round" "$next" 5000 | sql master
        have=$(sql master 'SHOW BINARY LOGS' | awk '{s += $2} END {print s + 0}')
        ((round % 5)) || log "round $round: $have bytes of binlog ($((SECONDS - t0))s)"
    done
    mkdir -p "$DATA"
    sql master "CHECKSUM TABLE $TABLES EXTENDED" | awk '{print $1, $2}' >"$DATA/checksums"
    sql master 'SELECT @@gtid_binlog_pos' >"$DATA/gtid"
    stop_server master 300
    mv -- "$(server_datadir master)"/mysql-bin.[0-9]* "$DATA/"
    rm -rf -- "$(server_dir master)"
    touch "$STAMP"
    log "generated $have bytes in $((SECONDS - t0))s ($round rounds of 5000 transactions)"
}

if [[ ${BENCH_REGEN:-0} == 1 || ! -f $STAMP ]]; then
    generate
else
    log "using the cached binlog in $DATA (BENCH_REGEN=1 to regenerate)"
fi
shopt -s nullglob
FILES=("$DATA"/mysql-bin.[0-9]*)
shopt -u nullglob
((${#FILES[@]} > 0)) || die "no binlog in $DATA"
TOTAL=$(cat "${FILES[@]}" | wc -c)
((TOTAL >= MIN_BYTES)) || die "only $TOTAL bytes of binlog in $DATA (BENCH_REGEN=1?)"

# ---------------------------------------------------------------------------
# 2. build

log "cargo build --release"
(cd "$ROOT" && cargo build --release --quiet --bin binlog-diff) || die "cargo build --release failed"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/binlog-diff
[[ -x $BIN ]] || die "no $BIN"

read -r EVENTS TRX < <("$BIN" stats --json "${FILES[@]}" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["events"], d["transactions"])')
EXPECT_SUM=$(awk '{print $2}' "$DATA/checksums" | paste -sd' ')
EXPECT_GTID=$(cat "$DATA/gtid")

# ---------------------------------------------------------------------------
# 3. timings

TWIN_OPTS=(--server-id=11 --binlog-format=ROW --binlog-checksum=CRC32
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0
    --innodb-buffer-pool-size=1G --innodb-log-file-size=512M --max-allowed-packet=256M)

TIME=/usr/bin/time
[[ -x $TIME ]] || TIME=
TCK=$(getconf CLK_TCK)
# timed OUT CMD...: CMD, with its user+sys CPU seconds in OUT (GNU time when present)
timed() {
    local out=$1
    shift
    if [[ -n $TIME ]]; then "$TIME" -f '%U %S' -o "$out" "$@"; else echo "0 0" >"$out"; "$@"; fi
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime of a pid
questions() { sql "$1" "SHOW GLOBAL STATUS LIKE 'Questions'" | awk '{print $2}'; }

declare -A BEST=() ALL=()
n_twin=0
# apply_on WHO: a fresh server, WHO (pipe|ours) applies FILES, wall time in
# BEST/ALL, CPU of the server and of the client side and the statements the
# server received in DETAIL; then the server's checksums and GTID position
# are checked.
apply_on() {
    local who=$1 name s e us sock sum gtid spid c0 c1 q0 q1 ccpu
    n_twin=$((n_twin + 1))
    name=$who$n_twin
    start_server "$name" "$(free_port "$PORT")" "${TWIN_OPTS[@]}"
    wait_ready "$name" 120
    sock=$(server_socket "$name")
    spid=$(server_pid "$name")
    cat "${FILES[@]}" >/dev/null # page cache
    sync
    log "$name: applying ($who), load $(cut -d' ' -f1-3 /proc/loadavg)"
    q0=$(questions "$name")
    c0=$(cpu_ticks "$spid")
    s=${EPOCHREALTIME/./}
    if [[ $who == pipe ]]; then
        timed "$MDB_WORKDIR/$name.cpu1" mariadb-binlog --no-defaults "${FILES[@]}" |
            timed "$MDB_WORKDIR/$name.cpu2" mariadb --no-defaults --binary-mode -uroot --socket="$sock" >"$MDB_WORKDIR/$name.out" 2>&1 ||
            { cat "$MDB_WORKDIR/$name.out" >&2; die "$name: mariadb-binlog | mariadb failed"; }
    else
        local par=()
        [[ $who == par* ]] && par=(--parallel "${who#par}")
        timed "$MDB_WORKDIR/$name.cpu1" "$BIN" apply "${par[@]}" --socket "$sock" --user root --state-file "$MDB_WORKDIR/$name.state" "${FILES[@]}" \
            >"$MDB_WORKDIR/$name.out" 2>&1 ||
            { cat "$MDB_WORKDIR/$name.out" >&2; die "$name: binlog-diff apply failed"; }
        echo "0 0" >"$MDB_WORKDIR/$name.cpu2"
    fi
    e=${EPOCHREALTIME/./}
    us=$((e - s))
    c1=$(cpu_ticks "$spid")
    q1=$(questions "$name")
    [[ $who == pipe ]] || OURS_REPORT=$(cat "$MDB_WORKDIR/$name.out")
    ccpu=$(cat "$MDB_WORKDIR/$name.cpu1" "$MDB_WORKDIR/$name.cpu2" | awk '{s += $1 + $2} END {printf "%.1f", s}')
    sum=$(sql "$name" "CHECKSUM TABLE $TABLES EXTENDED" | awk '{print $2}' | paste -sd' ')
    gtid=$(sql "$name" 'SELECT @@gtid_binlog_pos')
    [[ $sum == "$EXPECT_SUM" ]] || die "$name ($who): checksums $sum, the master had $EXPECT_SUM"
    [[ $gtid == "$EXPECT_GTID" ]] || die "$name ($who): gtid_binlog_pos $gtid, the master had $EXPECT_GTID"
    CHECKED+=("$name ($who): checksums $sum, gtid_binlog_pos $gtid")
    DETAIL+=("$(printf '%-8s %-5s %9.3f %12.1f %12s %12d' "$name" "$who" "$(awk -v u="$us" 'BEGIN { print u / 1e6 }')" \
        "$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN { print (b - a) / t }')" "$ccpu" $((q1 - q0 - 1)))")
    stop_server "$name" 300
    rm -rf -- "$(server_dir "$name")"
    ALL[$who]+="$(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1e6 }') "
    if [[ -z ${BEST[$who]:-} ]] || (($(awk -v a="$us" -v b="${BEST[$who]}" 'BEGIN { print (a / 1e6 < b) }'))); then
        BEST[$who]=$(awk -v u="$us" 'BEGIN { printf "%.6f", u / 1e6 }')
    fi
    log "$name: $who took $(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1e6 }') s"
}

DETAIL=()
CHECKED=()
OURS_REPORT=
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
read -r -a WHO <<<"${BENCH_WHO:-pipe ours par2 par4}"
for ((round = 1; round <= RUNS; round++)); do
    if ((round % 2)); then
        for who in "${WHO[@]}"; do apply_on "$who"; done
    else
        for ((i = ${#WHO[@]} - 1; i >= 0; i--)); do apply_on "${WHO[i]}"; done
    fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# 4. report

echo
echo "== diff: ${#FILES[@]} file(s), $TOTAL bytes, $EVENTS events, $TRX transactions (MariaDB $(mariadbd --version | awk '{print $3}'))"
for f in "${FILES[@]}"; do printf '   %12d  %s\n' "$(stat -c %s "$f")" "$f"; done
echo
echo "== apply to a fresh server, best of $RUNS (each on its own fresh server; $(nproc) cores, load average $LOAD_START at start, $LOAD_END at end)"
printf '   %-48s %9s %8s %10s %9s   %s\n' command seconds "MB/s" "events/s" "trx/s" "all runs (s)"
for who in "${WHO[@]}"; do
    case $who in
        pipe) label="mariadb-binlog | mariadb --binary-mode" ;;
        ours) label="binlog-diff apply (serial)" ;;
        par*) label="binlog-diff apply --parallel ${who#par}" ;;
    esac
    awk -v l="$label" -v t="${BEST[$who]}" -v b="$TOTAL" -v ev="$EVENTS" -v tx="$TRX" -v all="${ALL[$who]}" \
        'BEGIN { printf "   %-48s %9.3f %8.1f %10.0f %9.0f   %s\n", l, t, b / t / 1e6, ev / t, tx / t, all }'
done
echo
if [[ -n ${BEST[pipe]:-} ]]; then
    for who in "${WHO[@]}"; do
        [[ $who == pipe ]] && continue
        awk -v w="$who" -v a="${BEST[$who]}" -v b="${BEST[pipe]}" 'BEGIN {
            printf "== ratio %s / pipe (wall time): %.2f  (pipe / %s = %.2fx faster)\n", w, a / b, w, b / a }'
    done
fi
echo
echo "== every run: wall time, CPU seconds of the server (mariadbd) and of the client side"
echo "   (pipe: mariadb-binlog + mariadb; ours/parN: binlog-diff), statements the server received"
printf '   %-8s %-5s %9s %12s %12s %12s\n' server who wall server-cpu client-cpu statements
for d in "${DETAIL[@]}"; do echo "   $d"; done
echo
echo "== check (every server equals the master: $EXPECT_SUM, gtid $EXPECT_GTID)"
for c in "${CHECKED[@]}"; do echo "   $c"; done
echo
echo "== our last apply's report"
sed 's/^/   /' <<<"$OURS_REPORT"

#!/usr/bin/env bash
#
# benches/compare.sh -- binlog-diff vs mariadb-binlog on a REAL binlog set of
# at least 1 GiB written by a MariaDB server this script starts itself.
#
# Usage:  benches/compare.sh
#
# Steps
#   1. Generate (once; cached in $BENCH_DIR/binlogs, reruns skip it) a binlog
#      set of >= BENCH_MIN_BYTES (1 GiB) with a throw-away mariadbd on
#      127.0.0.1: binlog-format=ROW, binlog_checksum=CRC32,
#      max_binlog_size=256M, by a bulk workload: a table of ~2 KiB rows
#      (VARCHAR + BLOB) built by INSERT ... SELECT doubling, then rounds of
#      1024-row UPDATEs (full before/after images), a burst of single-row
#      autocommit INSERTs and a few DDLs, until the binlogs reach the size.
#   2. cargo build --release.
#   3. Warm the page cache, then time on the same files, in one run, with
#      hyperfine (else a best-of-3 bash loop):
#        binlog-diff verify FILES            (serial)
#        binlog-diff verify -j FILES         (parallel across files)
#        binlog-diff dump FILES >/dev/null
#        binlog-diff dump --no-verify FILES >/dev/null
#        mariadb-binlog FILES >/dev/null
#        mariadb-binlog --verify-binlog-checksum FILES >/dev/null
#   4. Print GB/s for each, the ratios, and the peak RSS of
#      `binlog-diff verify` (GNU time -v) over the whole set vs one file.
#
# Environment
#   BENCH_DIR        cache directory (default /tmp/binlog-diff-bench)
#   BENCH_MIN_BYTES  binlog bytes to generate (default 1073741824)
#   BENCH_RUNS       timed runs per command (default 3; best is reported)
#   BENCH_REGEN=1    discard the cached binlogs and generate again
#   PORT_BASE        first TCP port tried for the server (default 33406)
#
# The server is started and stopped only by this script (by pid, with an
# EXIT trap as a safety net); nothing sleeps for synchronisation: readiness
# and shutdown are polled.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/binlog-diff-bench}
MIN_BYTES=${BENCH_MIN_BYTES:-1073741824}
RUNS=${BENCH_RUNS:-3}
DATA=$BENCH_DIR/binlogs
STAMP=$DATA/.complete

log() { printf '[compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[compare] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# server helpers: scripts/lib/mariadb.sh when present, else a minimal copy

if [[ -f $ROOT/scripts/lib/mariadb.sh ]]; then
    # shellcheck source=../scripts/lib/mariadb.sh
    source "$ROOT/scripts/lib/mariadb.sh"
else
    declare -gA MDB_PID=() MDB_PORT=()
    declare -ga MDB_NAMES=()
    mdb_init() {
        MDB_WORKDIR=${MDB_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/mdb.XXXXXX")}
        mkdir -p "$MDB_WORKDIR"
        trap 'mdb_cleanup' EXIT
    }
    mdb_cleanup() {
        local rc=$? n p
        for n in "${MDB_NAMES[@]}"; do
            p=${MDB_PID[$n]:-}
            if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
                kill -9 "$p" 2>/dev/null || true
                wait "$p" 2>/dev/null || true
            fi
        done
        [[ ${MDB_KEEP:-0} == 1 ]] || rm -rf -- "$MDB_WORKDIR"
        return "$rc"
    }
    server_dir() { printf '%s/%s\n' "$MDB_WORKDIR" "$1"; }
    server_datadir() { printf '%s/%s/data\n' "$MDB_WORKDIR" "$1"; }
    server_socket() { printf '%s/%s/sock\n' "$MDB_WORKDIR" "$1"; }
    free_port() {
        local p=$1
        while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
        echo "$p"
    }
    start_server() {
        local name=$1 port=$2 dir
        shift 2
        dir=$(server_dir "$name")
        mkdir -p "$dir"
        mariadb-install-db --no-defaults --datadir="$dir/data" --user=root \
            --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 ||
            { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
        mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/sock" --port="$port" \
            --bind-address=127.0.0.1 --user=root --skip-name-resolve --pid-file="$dir/pid" \
            --log-error="$dir/error.log" "$@" </dev/null >>"$dir/stdout.log" 2>&1 &
        MDB_PID[$name]=$!
        MDB_PORT[$name]=$port
        MDB_NAMES+=("$name")
    }
    wait_ready() {
        local name=$1 deadline=$((SECONDS + ${2:-60})) pid=${MDB_PID[$1]}
        until mariadb-admin --no-defaults -uroot --socket="$(server_socket "$name")" \
            --connect-timeout=2 ping >/dev/null 2>&1; do
            kill -0 "$pid" 2>/dev/null || { tail -n 30 "$(server_dir "$name")/error.log" >&2; die "mariadbd exited"; }
            ((SECONDS < deadline)) || die "mariadbd not ready"
            sleep 0.1
        done
    }
    stop_server() {
        local name=$1 pid=${MDB_PID[$1]} deadline=$((SECONDS + ${2:-120}))
        mariadb-admin --no-defaults -uroot --socket="$(server_socket "$name")" shutdown >/dev/null 2>&1 || true
        while kill -0 "$pid" 2>/dev/null; do
            [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]] && break
            ((SECONDS < deadline)) || { kill -9 "$pid"; die "mariadbd did not stop"; }
            sleep 0.1
        done
        wait "$pid" 2>/dev/null || true
    }
    sql() {
        local name=$1
        shift
        local -a cmd=(mariadb --no-defaults -uroot --socket="$(server_socket "$name")" --batch --skip-column-names)
        if (($# > 0)) && [[ $1 != - ]]; then "${cmd[@]}" -e "$1"; else "${cmd[@]}"; fi
    }
fi

# ---------------------------------------------------------------------------
# 1. binlogs

binlog_bytes() { sql bench 'SHOW BINARY LOGS' | awk '{s += $2} END {print s + 0}'; }

# One round of workload SQL on stdin of one client session; $1 = round number.
round_sql() {
    local r=$1 rows=$2 lo
    echo "SET SESSION sql_log_bin = 1;"
    for ((lo = 1; lo <= rows; lo += 1024)); do
        echo "UPDATE bench.t SET n = n + 1, c = NOW(6) WHERE id BETWEEN $lo AND $((lo + 1023));"
    done
    # a burst of small autocommit transactions
    local i
    for ((i = 0; i < 2000; i++)); do
        echo "INSERT INTO bench.s (r, txt) VALUES ($r, 'small trx $r/$i');"
    done
    echo "CREATE TABLE bench.ddl_$r (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB;"
    echo "INSERT INTO bench.ddl_$r VALUES (1, 'x'), (2, 'y');"
    echo "DROP TABLE bench.ddl_$r;"
}

generate() {
    log "generating >= $MIN_BYTES bytes of binlog into $DATA"
    rm -rf -- "$DATA"
    mkdir -p "$BENCH_DIR"
    MDB_WORKDIR=$(mktemp -d "$BENCH_DIR/server.XXXXXX")
    export MDB_WORKDIR
    mdb_init
    local port t0=$SECONDS
    port=$(free_port "${PORT_BASE:-33406}")
    start_server bench "$port" --server-id=1 --log-bin=mysql-bin \
        --binlog-format=ROW --binlog-checksum=CRC32 --max-binlog-size=256M \
        --binlog-row-image=FULL --sync-binlog=0 --innodb-flush-log-at-trx-commit=0 \
        --innodb-doublewrite=0 --innodb-buffer-pool-size=512M --innodb-log-file-size=512M \
        --max-allowed-packet=256M
    wait_ready bench 120
    sql bench <<'SQL'
CREATE DATABASE bench;
CREATE TABLE bench.t (
  id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  n INT NOT NULL DEFAULT 0,
  a VARCHAR(2000) NOT NULL,
  b BLOB,
  c DATETIME(6),
  d DECIMAL(12,2)
) ENGINE=InnoDB;
CREATE TABLE bench.s (id INT AUTO_INCREMENT PRIMARY KEY, r INT, txt VARCHAR(64)) ENGINE=InnoDB;
INSERT INTO bench.t (a, b, c, d) VALUES ('seed', x'00ff', NOW(6), 1.50);
SQL
    # Doubling to 32768 rows of ~2 KiB (about 64 MiB of row images).
    local k
    for ((k = 0; k < 15; k++)); do
        sql bench "INSERT INTO bench.t (a, b, c, d)
            SELECT REPEAT(SHA1(RAND()), 1 + FLOOR(RAND() * 40)),
                   REPEAT(UNHEX(SHA2(RAND(), 256)), 1 + FLOOR(RAND() * 40)),
                   NOW(6), RAND() * 1000000 FROM bench.t"
    done
    local rows
    rows=$(sql bench 'SELECT MAX(id) FROM bench.t')
    local r=0 have
    have=$(binlog_bytes)
    while ((have < MIN_BYTES)); do
        r=$((r + 1))
        round_sql "$r" "$rows" | sql bench -
        have=$(binlog_bytes)
        log "round $r: $have bytes of binlog ($((SECONDS - t0))s)"
    done
    sql bench 'FLUSH BINARY LOGS'
    stop_server bench 300
    mkdir -p "$DATA"
    local f
    for f in "$(server_datadir bench)"/mysql-bin.[0-9]*; do
        mv -- "$f" "$DATA/"
    done
    rm -rf -- "$MDB_WORKDIR"
    (cd "$DATA" && ls mysql-bin.[0-9]* >"$STAMP")
    log "generated in $((SECONDS - t0))s"
}

if [[ ${BENCH_REGEN:-0} == 1 || ! -f $STAMP ]]; then
    generate
else
    log "using cached binlogs in $DATA (BENCH_REGEN=1 to regenerate)"
fi
mapfile -t FILES < <(sed "s|^|$DATA/|" "$STAMP")
((${#FILES[@]} > 0)) || die "no binlogs in $DATA"
TOTAL=$(cat "${FILES[@]}" | wc -c)
((TOTAL >= MIN_BYTES)) || die "only $TOTAL bytes of binlog in $DATA (BENCH_REGEN=1?)"

# ---------------------------------------------------------------------------
# 2. build

log "cargo build --release"
(cd "$ROOT" && cargo build --release --quiet --bin binlog-diff)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/binlog-diff
[[ -x $BIN ]] || die "no $BIN"

# ---------------------------------------------------------------------------
# 3. timings

echo
echo "== files (MariaDB $(mariadbd --version | awk '{print $3}'), ${#FILES[@]} files, $TOTAL bytes)"
ls -l "${FILES[@]}" | awk '{printf "   %12d  %s\n", $5, $NF}'
"$BIN" stats "${FILES[@]}" | awk 'NR <= 2 { print "   " $0 }'
"$BIN" verify "${FILES[@]}" >/dev/null || die "binlog-diff verify rejects the generated files"
mariadb-binlog --verify-binlog-checksum "${FILES[@]}" >/dev/null ||
    die "mariadb-binlog rejects the generated files"

log "warming the page cache"
cat "${FILES[@]}" >/dev/null
cat "${FILES[@]}" >/dev/null

NAMES=(verify verify-j dump dump-no-verify mariadb-binlog mariadb-binlog-verify)
F="${FILES[*]}"
CMDS=(
    "$BIN verify $F"
    "$BIN verify -j $F"
    "$BIN dump $F"
    "$BIN dump --no-verify $F"
    "mariadb-binlog $F"
    "mariadb-binlog --verify-binlog-checksum $F"
)
declare -A BEST=()

if command -v hyperfine >/dev/null 2>&1; then
    log "timing with hyperfine ($RUNS runs each, 1 warm-up)"
    json=$(mktemp)
    args=()
    for i in "${!CMDS[@]}"; do args+=(-n "${NAMES[$i]}" "${CMDS[$i]}"); done
    hyperfine --warmup 1 --runs "$RUNS" --output=null --export-json "$json" "${args[@]}" >&2
    while read -r name t; do BEST[$name]=$t; done < <(python3 - "$json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["command"], min(r["times"]))
PY
)
    rm -f "$json"
else
    log "hyperfine not found: best of $RUNS with a bash loop"
    for i in "${!CMDS[@]}"; do
        best=
        for ((k = 0; k < RUNS; k++)); do
            s=$(date +%s.%N)
            ${CMDS[$i]} >/dev/null
            e=$(date +%s.%N)
            t=$(echo "$e - $s" | bc -l)
            if [[ -z $best ]] || (($(echo "$t < $best" | bc -l))); then best=$t; fi
        done
        BEST[${NAMES[$i]}]=$best
    done
fi

# ---------------------------------------------------------------------------
# 4. report

echo
echo "== throughput over $TOTAL bytes (best of $RUNS, warm page cache, $(nproc) cores)"
for n in "${NAMES[@]}"; do
    awk -v n="$n" -v t="${BEST[$n]}" -v b="$TOTAL" \
        'BEGIN { printf "   %-24s %8.3f s  %7.3f GB/s\n", n, t, b / t / 1e9 }'
done
echo
echo "== ratios (time of mariadb-binlog / time of binlog-diff; > 1 means binlog-diff is faster)"
ratio() { awk -v a="${BEST[$1]}" -v b="${BEST[$2]}" -v l="$3" 'BEGIN { printf "   %-58s %6.2fx\n", l, a / b }'; }
ratio mariadb-binlog dump "dump            vs mariadb-binlog"
ratio mariadb-binlog dump-no-verify "dump --no-verify vs mariadb-binlog"
ratio mariadb-binlog-verify dump "dump            vs mariadb-binlog --verify-binlog-checksum"
ratio mariadb-binlog-verify verify "verify          vs mariadb-binlog --verify-binlog-checksum"
ratio mariadb-binlog-verify verify-j "verify -j       vs mariadb-binlog --verify-binlog-checksum"
ratio verify verify-j "verify -j       vs verify (parallel speed-up)"

echo
echo "== peak memory of binlog-diff verify"
echo "   max RSS: GNU time -v; anon/file: peaks of RssAnon (heap, stacks) and RssFile"
echo "   (resident pages of the mapped files) sampled every 2 ms from /proc/PID/status"
TIME=/usr/bin/time
if [[ ! -x $TIME ]]; then
    log "installing GNU time"
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y time >/dev/null 2>&1; } || true
fi
# shellcheck source=../scripts/lib/measure.sh
source "$ROOT/scripts/lib/measure.sh"
if [[ -x $TIME ]]; then
    largest=$(ls -S "${FILES[@]}" | head -n 1)
    # the smallest file over 1 MiB, to show memory vs file size
    smallest_big=$(stat -c '%s %n' "${FILES[@]}" | sort -n | awk '$1 > 1048576 { print $2; exit }')
    printf '   %-46s %12s %12s %12s\n' "" "max RSS" "anon" "file"
    rss() {
        local label=$1 out max anon file
        shift
        out=$({ "$TIME" -v "$@" >/dev/null; } 2>&1) || die "$label failed: $out"
        max=$(awk -F': ' '/Maximum resident set size/ { print $2 }' <<<"$out")
        read -r anon file < <(sampled "$@")
        awk -v l="$label" -v m="$max" -v a="$anon" -v f="$file" \
            'BEGIN { printf "   %-46s %8.1f MiB %8.1f MiB %8.1f MiB\n", l, m / 1024, a / 1024, f / 1024 }'
    }
    if [[ -n $smallest_big ]]; then
        rss "verify, one file ($(stat -c %s "$smallest_big") B)" "$BIN" verify "$smallest_big"
    fi
    rss "verify, one file ($(stat -c %s "$largest") B)" "$BIN" verify "$largest"
    rss "verify, all ${#FILES[@]} files ($TOTAL B)" "$BIN" verify "${FILES[@]}"
    rss "verify -j, all ${#FILES[@]} files" "$BIN" verify -j "${FILES[@]}"
    rss "verify --no-mmap, one file ($(stat -c %s "$largest") B)" "$BIN" verify --no-mmap "$largest"
    rss "verify --no-mmap, all ${#FILES[@]} files" "$BIN" verify --no-mmap "${FILES[@]}"
    rss "mariadb-binlog --verify-binlog-checksum, all" mariadb-binlog --verify-binlog-checksum "${FILES[@]}"
else
    echo "   /usr/bin/time not available"
fi

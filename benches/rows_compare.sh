#!/usr/bin/env bash
#
# benches/rows_compare.sh -- `binlog-diff dump --rows` vs `mariadb-binlog -v`
# on the same ROW binlogs, side by side in one run (issue 26).
#
# Usage:  benches/rows_compare.sh
#
# Steps
#   1. Generate (once; cached in $BENCH_DIR/binlogs, reruns reuse it) a set of
#      ROW binlogs, every file >= 64 MiB (max_binlog_size=72M; the partial
#      last file is dropped), BENCH_MIN_BYTES in all, with a throw-away
#      mariadbd on 127.0.0.1. The table is the test workload's `bd.t`
#      (tests/support/topology/workload.rs: utf8mb4 VARCHAR with multi-byte
#      and 4-byte characters, DECIMAL(12,2), DATETIME(6), BLOB of random
#      bytes, JSON, INT seq_n) made wider: a TEXT column of about 1 KiB and
#      a JSON document of about 1 KiB, plus narrow TINYINT/BIGINT/DOUBLE
#      columns. Rows are built by INSERT ... SELECT doubling, then rounds of
#      1024-row UPDATEs (full before and after images) and single-row
#      INSERT/DELETE transactions, until the set reaches the size.
#   2. cargo build --release.
#   3. Warm the page cache, then time, alternating the commands round by
#      round (BENCH_RUNS rounds, median reported):
#        binlog-diff dump --rows FILES >/dev/null
#        binlog-diff dump --rows --threads 1 FILES >/dev/null   (serial)
#        mariadb-binlog -v FILES >/dev/null
#      with GNU time (wall seconds and "Maximum resident set size"), and the
#      peak RssAnon (heap, stacks: what grows with the data, mapped file
#      pages aside) sampled from /proc/PID/status.
#      Before the timings, the `###` lines of both tools on the first file
#      must be byte-identical.
#   4. Print the medians, the ratios and the memory.
#
# Environment
#   BENCH_DIR        cache directory (default $ROOT/target/rows-bench)
#   BENCH_MIN_BYTES  binlog bytes to generate (default 335544320, 320 MiB)
#   BENCH_RUNS       timed rounds (default 5; the median is reported)
#   BENCH_REGEN=1    discard the cached binlogs and generate again
#   PORT_BASE        first TCP port tried for the server (default 33506)
#
# The server is started and stopped only by this script (by pid, with an
# EXIT trap as a safety net); readiness and shutdown are polled.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-$ROOT/target/rows-bench}
MIN_BYTES=${BENCH_MIN_BYTES:-335544320}
RUNS=${BENCH_RUNS:-5}
FILE_MIN=$((64 << 20))
DATA=$BENCH_DIR/binlogs
STAMP=$DATA/.complete

log() { printf '[rows_compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[rows_compare] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=../scripts/lib/mariadb.sh
source "$ROOT/scripts/lib/mariadb.sh"

# ---------------------------------------------------------------------------
# 1. binlogs

binlog_bytes() { sql bd 'SHOW BINARY LOGS' | awk '{s += $2} END {print s + 0}'; }

# One round of workload SQL for one client session: $1 round, $2 rows.
round_sql() {
    local r=$1 rows=$2 lo i
    for ((lo = 1; lo <= rows; lo += 1024)); do
        echo "UPDATE bd.t SET n = n + 1, amount = amount + 0.01, seq_n = seq_n + 1,
              doc = JSON_SET(doc, '\$.u', $r) WHERE id BETWEEN $lo AND $((lo + 1023));"
    done
    for ((i = 0; i < 2000; i++)); do
        echo "INSERT INTO bd.t (tiny, name, amount, created, payload, doc, note, ratio, seq_n)
              SELECT tiny, CONCAT('r$r ', name), amount, created, payload, doc, note, ratio, $i
              FROM bd.t WHERE id = $((1 + (r * 7919 + i * 104729) % rows));"
        if ((i % 4 == 0)); then
            echo "DELETE FROM bd.t WHERE id = (SELECT MAX(id) FROM (SELECT id FROM bd.t) x);"
        fi
    done
}

generate() {
    log "generating >= $MIN_BYTES bytes of ROW binlog into $DATA"
    rm -rf -- "$DATA"
    mkdir -p "$BENCH_DIR"
    MDB_WORKDIR=$(mktemp -d "$BENCH_DIR/server.XXXXXX")
    export MDB_WORKDIR
    mdb_init
    local port t0=$SECONDS
    port=$(free_port "${PORT_BASE:-33506}")
    start_server bd "$port" --server-id=1 --log-bin=mysql-bin \
        --binlog-format=ROW --binlog-checksum=CRC32 --max-binlog-size=72M \
        --binlog-row-image=FULL --sync-binlog=0 --innodb-flush-log-at-trx-commit=0 \
        --innodb-doublewrite=0 --innodb-buffer-pool-size=512M --innodb-log-file-size=512M \
        --max-allowed-packet=256M
    wait_ready bd 120
    sql bd <<'SQL'
SET NAMES utf8mb4;
CREATE DATABASE bd CHARACTER SET utf8mb4;
CREATE TABLE bd.t (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  n INT NOT NULL DEFAULT 0,
  tiny TINYINT NOT NULL DEFAULT 0,
  name VARCHAR(200) CHARACTER SET utf8mb4 NOT NULL,
  amount DECIMAL(12,2) NULL,
  created DATETIME(6) NULL,
  payload BLOB NULL,
  doc JSON NULL,
  note TEXT CHARACTER SET utf8mb4 NULL,
  ratio DOUBLE NULL,
  seq_n BIGINT NOT NULL
) ENGINE=InnoDB;
INSERT INTO bd.t (tiny, name, amount, created, payload, doc, note, ratio, seq_n)
  VALUES (1, 'seed é ß ✓ 😀', 1.50, NOW(6), x'00ff0a27', '{"seq": 1}', 'seed', 0.5, 1);
SQL
    # Doubling to 32768 rows of ~3 KiB.
    local k
    for ((k = 0; k < 15; k++)); do
        sql bd "SET NAMES utf8mb4; INSERT INTO bd.t (tiny, name, amount, created, payload, doc, note, ratio, seq_n)
            SELECT FLOOR(RAND() * 256) - 128,
                   CONCAT(LEFT(REPEAT('aé ßñΩж✓€日本語😀🚀 kxyz', 1 + FLOOR(RAND() * 8)), 190)),
                   RAND() * 1000000 - 500000,
                   NOW(6) - INTERVAL FLOOR(RAND() * 100000000) SECOND,
                   IF(RAND() < 0.2, NULL, REPEAT(UNHEX(SHA2(RAND(), 256)), 1 + FLOOR(RAND() * 12))),
                   JSON_OBJECT('seq', id, 's', REPEAT('été \"q\" ✓ ', 1 + FLOOR(RAND() * 40)),
                               'a', JSON_ARRAY(FLOOR(RAND() * 1000), RAND(), NULL, TRUE),
                               'o', JSON_OBJECT('k', SHA1(RAND()), 'n', -FLOOR(RAND() * 1e9))),
                   REPEAT(CONCAT(SHA1(RAND()), ' line\n\tit''s \\\\ ok; '), 1 + FLOOR(RAND() * 30)),
                   RAND() * 1e6,
                   FLOOR(RAND() * 1e15) - 5e14
            FROM bd.t"
    done
    local rows r=0 have
    rows=$(sql bd 'SELECT MAX(id) FROM bd.t')
    have=$(binlog_bytes)
    while ((have < MIN_BYTES + FILE_MIN)); do
        r=$((r + 1))
        round_sql "$r" "$rows" | sql bd -
        have=$(binlog_bytes)
        log "round $r: $have bytes of binlog ($((SECONDS - t0))s)"
    done
    sql bd 'FLUSH BINARY LOGS'
    stop_server bd 300
    mkdir -p "$DATA"
    local f
    : >"$STAMP.tmp"
    for f in "$(server_datadir bd)"/mysql-bin.[0-9]*; do
        # full files only: the last (partial) one and the empty one after FLUSH are dropped
        if (($(stat -c %s "$f") >= FILE_MIN)); then
            mv -- "$f" "$DATA/"
            basename -- "$f" >>"$STAMP.tmp"
        fi
    done
    rm -rf -- "$MDB_WORKDIR"
    mv -- "$STAMP.tmp" "$STAMP"
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

# ---------------------------------------------------------------------------
# 2. build

log "cargo build --release"
(cd "$ROOT" && cargo build --release --quiet --bin binlog-diff)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/binlog-diff
[[ -x $BIN ]] || die "no $BIN"
TIME=/usr/bin/time
[[ -x $TIME ]] || die "GNU time (/usr/bin/time) is needed: apt-get install time"

# ---------------------------------------------------------------------------
# 3. timings

echo "== files (MariaDB $(mariadbd --version | awk '{print $3}'), ${#FILES[@]} files, $TOTAL bytes, $(nproc) cores)"
ls -l "${FILES[@]}" | awk '{printf "   %12d  %s\n", $5, $NF}'

log "warming the page cache"
cat "${FILES[@]}" >/dev/null

# The same values: the ### lines of both tools, byte for byte, on the first file.
log "comparing the ### lines of both tools on ${FILES[0]}"
ours=$("$BIN" dump --rows "${FILES[0]}" | grep -a '^###' | md5sum)
theirs=$(mariadb-binlog -v "${FILES[0]}" | grep -a '^###' | md5sum)
[[ $ours == "$theirs" ]] || die "dump --rows and mariadb-binlog -v print different ### lines for ${FILES[0]}"
echo "   ### lines of ${FILES[0]##*/}: identical in both tools"

NAMES=(dump-rows dump-rows-serial mariadb-binlog-v)
CMDS=(
    "$BIN dump --rows ${FILES[*]}"
    "$BIN dump --rows --threads 1 ${FILES[*]}"
    "mariadb-binlog -v ${FILES[*]}"
)
if ! "$BIN" dump --help | grep -q -- '--threads'; then
    CMDS[1]=${CMDS[0]} # before --threads existed: dump --rows was serial
fi
declare -A T=() RSS=()
for ((k = 1; k <= RUNS; k++)); do
    for i in "${!CMDS[@]}"; do
        # shellcheck disable=SC2086
        out=$({ "$TIME" -f '%e %M' ${CMDS[$i]} >/dev/null; } 2>&1) || die "${NAMES[$i]} failed: $out"
        read -r secs kib < <(tail -n 1 <<<"$out")
        T[${NAMES[$i]}]+="$secs "
        RSS[${NAMES[$i]}]+="$kib "
    done
    log "round $k/$RUNS done"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# shellcheck source=../scripts/lib/measure.sh
source "$ROOT/scripts/lib/measure.sh"

# ---------------------------------------------------------------------------
# 4. report

echo
echo "== medians of $RUNS rounds over $TOTAL bytes (warm page cache; the commands alternate)"
printf '   %-20s %9s %15s %8s %12s %12s\n' "" "wall" "(min-max)" "MB/s" "max RSS" "peak anon"
declare -A MED=()
for i in "${!NAMES[@]}"; do
    n=${NAMES[$i]}
    MED[$n]=$(median <<<"${T[$n]}")
    rss=$(median <<<"${RSS[$n]}")
    # shellcheck disable=SC2086
    read -r anon _ < <(sampled ${CMDS[$i]})
    lo=$(tr ' ' '\n' <<<"${T[$n]}" | grep -v '^$' | sort -g | head -n 1)
    hi=$(tr ' ' '\n' <<<"${T[$n]}" | grep -v '^$' | sort -g | tail -n 1)
    awk -v n="$n" -v t="${MED[$n]}" -v lo="$lo" -v hi="$hi" -v b="$TOTAL" -v r="$rss" -v a="$anon" \
        'BEGIN { printf "   %-20s %8.2fs  (%5.2f-%5.2fs) %8.0f %8.1f MiB %8.1f MiB\n", n, t, lo, hi, b / t / 1e6, r / 1024, a / 1024 }'
done
echo
echo "== ratios (mariadb-binlog -v time / binlog-diff time; > 1: binlog-diff is faster)"
awk -v a="${MED[mariadb-binlog-v]}" -v b="${MED[dump-rows]}" 'BEGIN { printf "   dump --rows              %6.2fx\n", a / b }'
awk -v a="${MED[mariadb-binlog-v]}" -v b="${MED[dump-rows-serial]}" 'BEGIN { printf "   dump --rows --threads 1  %6.2fx\n", a / b }'

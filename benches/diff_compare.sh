#!/usr/bin/env bash
#
# benches/diff_compare.sh -- binlog-diff's relay-log diffs vs MHA's
# `apply_diff_relay_logs --command=generate` on a REAL relay-log set of at
# least 1 GiB written by a MariaDB replica this script starts itself.
#
# Usage:  benches/diff_compare.sh
#
# Steps
#   1. Generate (once; cached in $BENCH_DIR/data, reruns skip it) a master +
#      ONE replica on 127.0.0.1 (MariaDB, binlog-format=ROW,
#      binlog_checksum=CRC32, max_binlog_size=1073741824; the replica with
#      relay_log_purge=0 and max_relay_log_size=0, so its relay files follow
#      max_binlog_size). Only the replica's IO thread runs (we need relay logs,
#      not applied data). Workload: a table of ~1 KiB random rows (doubling to
#      16384 rows), then `INSERT INTO b (pad) SELECT pad FROM b LIMIT 10000`
#      (~10 MiB transactions) until the master's binlogs reach
#      BENCH_MIN_BYTES. `SHOW MASTER STATUS` after every statement is an
#      exact transaction boundary: saved in data/boundaries. When the replica
#      has read everything (polled), both servers are stopped cleanly; the
#      master's binlogs and the replica's relay logs, relay-log.info and
#      master.info are kept.
#   2. cargo build --release; warm the page cache.
#   3. Targets: the recorded boundaries nearest 5%, 40% and 75% of the data
#      (5% gives a ~1 GiB diff), and one near the end (for memory).
#   4. Time, best of BENCH_RUNS (3) wall-clock runs each, in one run:
#        MHA  apply_diff_relay_logs --command=generate (5% target)
#        MHA  the same followed by fsync of its diff (ours fsyncs its diffs)
#        MHA  apply_diff_relay_logs --command=find (5% target)
#        ours binlog-diff diff --state one.json --write DIR     (5% target)
#        ours binlog-diff diff --state three.json --write DIR   (5/40/75%)
#        ours binlog-diff diff --state three.json   (plan only: the counting pass)
#        ours binlog-diff map --relay relay-bin.index --target T --latest L  (each target)
#      Outputs are deleted (and `sync`ed) between runs, outside the timing.
#      Then peak memory (GNU time -v, plus RssAnon/RssFile sampled from /proc)
#      of ours for 3 replicas, 1 replica and a small target near the end, and
#      of MHA's generate.
#   5. Correctness: our 5% diff and MHA's hold the same master data events
#      (the (type, log_pos) sequence of `binlog-diff dump`, leaving out
#      FDE/ROTATE/GTID_LIST/BINLOG_CHECKPOINT/STOP and the replica's own
#      events: MHA also copies the relay files' header events).
#
# MHA runs as packaged (Debian mha4mysql-node) with a private patched copy of
# MHA/NodeUtil.pm first on PERL5LIB (as packaged it dies on current Perl with
# MariaDB version strings; see tests/mha_mapping.rs). System files are never
# touched.
#
# Environment
#   BENCH_DIR        cache directory (default /tmp/binlog-diff-bench-relay)
#   BENCH_MIN_BYTES  master binlog bytes to generate (default 1.1 GiB)
#   BENCH_RUNS       timed runs per command (default 3; best is reported)
#   BENCH_REGEN=1    discard the cached logs and generate again
#   BENCH_MAX_BINLOG_SIZE  max_binlog_size of both servers (default 1073741824;
#                    smaller only to try the script quickly on little data)
#   PORT_BASE        first TCP port tried for the servers (default 33506)
#
# Servers are started and stopped only by this script (by pid; an EXIT trap
# kills what is left). Waits poll a condition; nothing sleeps to synchronise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/binlog-diff-bench-relay}
MIN_BYTES=${BENCH_MIN_BYTES:-1181116006}
RUNS=${BENCH_RUNS:-3}
DATA=$BENCH_DIR/data
MASTER_DIR=$DATA/master
RELAY_DIR=$DATA/replica
STAMP=$DATA/.complete
MAX_BINLOG=${BENCH_MAX_BINLOG_SIZE:-1073741824}
REPLICA_ID=2

log() { printf '[diff_compare %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[diff_compare] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=../scripts/lib/mariadb.sh
source "$ROOT/scripts/lib/mariadb.sh"

WORK=
on_exit() {
    local rc=$?
    if [[ -n ${MDB_WORKDIR:-} ]]; then mdb_cleanup || true; fi
    [[ -z $WORK ]] || rm -rf -- "$WORK"
    exit "$rc"
}
trap on_exit EXIT

# ---------------------------------------------------------------------------
# 1. master binlogs + relay logs

binlog_bytes() { sql master 'SHOW BINARY LOGS' | awk '{s += $2} END {print s + 0}'; }
record_boundary() { sql master 'SHOW MASTER STATUS' | awk '{print $1, $2}' >>"$1"; }

generate() {
    log "generating >= $MIN_BYTES bytes of master binlog (+ the replica's relay logs) into $DATA"
    rm -rf -- "$DATA"
    mkdir -p "$BENCH_DIR"
    MDB_WORKDIR=$(mktemp -d "$BENCH_DIR/servers.XXXXXX")
    export MDB_WORKDIR
    mdb_init
    trap on_exit EXIT
    local t0=$SECONDS mport rport
    mport=$(free_port "${PORT_BASE:-33506}")
    start_server master "$mport" --server-id=1 \
        --binlog-format=ROW --binlog-checksum=CRC32 --max-binlog-size="$MAX_BINLOG" \
        --sync-binlog=0 --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
        --innodb-buffer-pool-size=512M --innodb-log-file-size=512M --max-allowed-packet=256M
    rport=$(free_port "$((mport + 1))")
    start_server replica "$rport" --server-id="$REPLICA_ID" \
        --binlog-format=ROW --binlog-checksum=CRC32 --max-binlog-size="$MAX_BINLOG" \
        --relay-log-purge=0 --max-relay-log-size=0 --skip-slave-start \
        --max-allowed-packet=256M
    wait_ready master 120
    wait_ready replica 120

    # replication: the IO thread only (relay logs are all we need)
    sql master "SET SESSION sql_log_bin = 0;
        CREATE USER '$MDB_REPL_USER'@'127.0.0.1' IDENTIFIED BY '$MDB_REPL_PASSWORD';
        GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '$MDB_REPL_USER'@'127.0.0.1';"
    sql replica "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = $mport,
        MASTER_USER = '$MDB_REPL_USER', MASTER_PASSWORD = '$MDB_REPL_PASSWORD',
        MASTER_LOG_FILE = 'mysql-bin.000001', MASTER_LOG_POS = 4,
        MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = no;
        START SLAVE IO_THREAD;"
    wait_io_running replica

    local bnd=$MDB_WORKDIR/boundaries
    : >"$bnd"
    sql master "CREATE DATABASE bench;
        CREATE TABLE bench.b (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
                              pad VARBINARY(1024) NOT NULL) ENGINE=InnoDB;"
    record_boundary "$bnd"
    sql master "INSERT INTO bench.b (pad) VALUES (RANDOM_BYTES(1000))"
    record_boundary "$bnd"
    local k
    for ((k = 0; k < 14; k++)); do # 16384 rows of 1000 random bytes
        sql master "INSERT INTO bench.b (pad) SELECT RANDOM_BYTES(1000) FROM bench.b"
        record_boundary "$bnd"
    done
    local have n=0
    have=$(binlog_bytes)
    while ((have < MIN_BYTES)); do
        sql master "INSERT INTO bench.b (pad) SELECT pad FROM bench.b LIMIT 10000"
        record_boundary "$bnd"
        n=$((n + 1))
        have=$(binlog_bytes)
        ((n % 10)) || log "$n bulk transactions: $have bytes of binlog ($((SECONDS - t0))s)"
    done
    log "workload done: $((n + 17)) statements, $have bytes of binlog ($((SECONDS - t0))s)"

    # wait until the IO thread has read everything the master has
    local deadline=$((SECONDS + 600)) mfile mpos st f r ioerr
    while :; do
        read -r mfile mpos _ < <(sql master 'SHOW MASTER STATUS')
        st=$(slave_status replica)
        f=$(awk -F'\t' '$1=="Master_Log_File"{print $2}' <<<"$st")
        r=$(awk -F'\t' '$1=="Read_Master_Log_Pos"{print $2}' <<<"$st")
        ioerr=$(awk -F'\t' '$1=="Last_IO_Error"{print $2}' <<<"$st")
        [[ $f == "$mfile" && $r == "$mpos" ]] && break
        ((SECONDS < deadline)) || die "replica has read $f:$r of $mfile:$mpos after 600s ($ioerr)"
        sleep 0.2
    done
    log "replica has read everything: $mfile:$mpos"
    sql replica 'STOP SLAVE IO_THREAD'
    wait_io_stopped replica
    stop_server replica 300
    stop_server master 300

    mkdir -p "$MASTER_DIR" "$RELAY_DIR"
    local md rd
    md=$(server_datadir master)
    rd=$(server_datadir replica)
    mv -- "$md"/mysql-bin.[0-9]* "$md/mysql-bin.index" "$MASTER_DIR/"
    mv -- "$rd"/relay-bin.* "$rd/relay-log.info" "$rd/master.info" "$RELAY_DIR/"
    mv -- "$bnd" "$DATA/boundaries"
    echo "$mfile $mpos" >"$DATA/latest"
    rm -rf -- "$MDB_WORKDIR"
    MDB_WORKDIR=
    touch "$STAMP"
    log "generated in $((SECONDS - t0))s"
}

if [[ ${BENCH_REGEN:-0} == 1 || ! -f $STAMP ]]; then
    generate
else
    log "using cached logs in $DATA (BENCH_REGEN=1 to regenerate)"
fi

shopt -s nullglob
MFILES=("$MASTER_DIR"/mysql-bin.[0-9]*)
RFILES=("$RELAY_DIR"/relay-bin.[0-9]*)
shopt -u nullglob
((${#RFILES[@]} > 0 && ${#MFILES[@]} > 0)) || die "no relay logs or binlogs in $DATA"
read -r LATEST_FILE LATEST_POS <"$DATA/latest"
RELAY_TOTAL=$(cat "${RFILES[@]}" | wc -c)
MASTER_TOTAL=$(cat "${MFILES[@]}" | wc -c)
((MASTER_TOTAL >= MIN_BYTES)) || die "only $MASTER_TOTAL bytes of master binlog in $MASTER_DIR (BENCH_REGEN=1?)"
((RELAY_TOTAL >= 1073741824)) || log "WARNING: only $RELAY_TOTAL bytes of relay logs (< 1 GiB)"

# ---------------------------------------------------------------------------
# 2. build, page cache

log "cargo build --release"
(cd "$ROOT" && cargo build --release --quiet --bin binlog-diff) || die "cargo build --release failed"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/binlog-diff
[[ -x $BIN ]] || die "no $BIN"
TIME=/usr/bin/time
if [[ ! -x $TIME ]]; then
    log "installing GNU time"
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y time >/dev/null 2>&1; } || true
fi

WORK=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
log "warming the page cache"
cat "${RFILES[@]}" "${MFILES[@]}" >/dev/null
cat "${RFILES[@]}" >/dev/null

# ---------------------------------------------------------------------------
# 3. targets

# boundaries with their offset in the whole master stream (earlier files' sizes + pos)
declare -A MSIZE=()
for f in "${MFILES[@]}"; do MSIZE[$(basename "$f")]=$(stat -c %s "$f"); done
cum_of() { # FILE POS -> offset in the concatenated master binlogs
    local file=$1 pos=$2 c=0 f
    for f in "${MFILES[@]}"; do
        f=$(basename "$f")
        [[ $f < "$file" ]] && c=$((c + MSIZE[$f]))
    done
    echo $((c + pos))
}
LATEST_CUM=$(cum_of "$LATEST_FILE" "$LATEST_POS")
: >"$WORK/bcum"
while read -r f p; do
    [[ -n $f ]] || continue
    echo "$f $p $(cum_of "$f" "$p")" >>"$WORK/bcum"
done <"$DATA/boundaries"
pick() { # PERCENT -> "FILE POS" of the recorded boundary nearest that share of the data
    awk -v want="$(awk -v t="$LATEST_CUM" -v p="$1" 'BEGIN { printf "%.0f", t * p / 100 }')" -v lf="$LATEST_FILE" -v lp="$LATEST_POS" '
        !($1 == lf && $2 == lp) { d = $3 - want; if (d < 0) d = -d; if (best == "" || d < bd) { bd = d; best = $1 " " $2 } }
        END { print best }' "$WORK/bcum"
}
read -r T05_FILE T05_POS < <(pick 5)
read -r T40_FILE T40_POS < <(pick 40)
read -r T75_FILE T75_POS < <(pick 75)
# a small target: the last recorded boundary before the latest position
read -r TEND_FILE TEND_POS < <(awk -v lf="$LATEST_FILE" -v lp="$LATEST_POS" '!($1 == lf && $2 == lp) { l = $1 " " $2 } END { print l }' "$WORK/bcum")

latest_json() {
    local last
    last=${RFILES[-1]}
    printf '{"name": "latest", "master_log_file": "%s", "read_master_log_pos": %s, "relay_master_log_file": "%s", "exec_master_log_pos": %s, "relay_log_file": "%s", "relay_log_pos": %s, "relay_dir": "%s", "server_id": %s}' \
        "$LATEST_FILE" "$LATEST_POS" "$LATEST_FILE" "$LATEST_POS" "$(basename "$last")" "$(stat -c %s "$last")" "$RELAY_DIR" "$REPLICA_ID"
}
target_json() { # NAME FILE POS
    printf '{"name": "%s", "master_log_file": "%s", "read_master_log_pos": %s, "relay_master_log_file": "%s", "exec_master_log_pos": %s}' \
        "$1" "$2" "$3" "$2" "$3"
}
printf '[%s, %s]\n' "$(latest_json)" "$(target_json t05 "$T05_FILE" "$T05_POS")" >"$WORK/one.json"
printf '[%s, %s, %s, %s]\n' "$(latest_json)" "$(target_json t05 "$T05_FILE" "$T05_POS")" \
    "$(target_json t40 "$T40_FILE" "$T40_POS")" "$(target_json t75 "$T75_FILE" "$T75_POS")" >"$WORK/three.json"
printf '[%s, %s]\n' "$(latest_json)" "$(target_json tend "$TEND_FILE" "$TEND_POS")" >"$WORK/end.json"

# the plan once (not timed): relay start of every target, diff sizes
"$BIN" diff --state "$WORK/three.json" --json >"$WORK/plan3.json" || die "binlog-diff diff (plan) failed"
"$BIN" diff --state "$WORK/end.json" --json >"$WORK/planend.json" || die "binlog-diff diff (plan, end) failed"
declare -A RSTART=() SRC=() DIFFB=() TRX=()
while read -r name rs db tx; do
    RSTART[$name]=$rs
    DIFFB[$name]=$db
    TRX[$name]=$tx
done < <(python3 - "$WORK/plan3.json" "$WORK/planend.json" <<'PY'
import json, sys
for p in sys.argv[1:]:
    for r in json.load(open(p))["replicas"]:
        if r["state"]["name"] == "latest":
            continue
        d = r["diff"]
        print(r["state"]["name"], r["relay_start"] or "-", d["bytes"], d["transactions"])
PY
)
src_bytes() { # RELAY_FILE:POS -> relay bytes from there to the end of the relay logs
    local rf=${1%:*} rp=${1##*:} s=0 f b
    for f in "${RFILES[@]}"; do
        b=$(basename "$f")
        if [[ $b == "$rf" ]]; then s=$((s + $(stat -c %s "$f") - rp)); elif [[ $b > "$rf" ]]; then s=$((s + $(stat -c %s "$f"))); fi
    done
    echo "$s"
}
for t in t05 t40 t75 tend; do
    [[ ${RSTART[$t]:-} && ${RSTART[$t]} != - ]] || die "no relay start for $t (plan: $WORK/plan3.json)"
    SRC[$t]=$(src_bytes "${RSTART[$t]}")
done
SRC3=$((SRC[t05] + SRC[t40] + SRC[t75]))

# MHA: a private patched NodeUtil.pm, a relay-log.info naming the newest relay file by absolute path
MHA_LIB=$WORK/perl5
mkdir -p "$MHA_LIB/MHA"
python3 - /usr/share/perl5/MHA/NodeUtil.pm "$MHA_LIB/MHA/NodeUtil.pm" <<'PY' || die "cannot patch a copy of NodeUtil.pm"
import sys
t = open(sys.argv[1]).read()
f = t.replace("sprintf( '%03d%03d%03d', $str =~ m/(\\d+)/g )",
              "sprintf( '%03d%03d%03d', ( $str =~ m/(\\d+)/g )[0,1,2] )") \
     .replace("sprintf( '%03d%03d', $str =~ m/(\\d+)/g )",
              "sprintf( '%03d%03d', ( $str =~ m/(\\d+)/g )[0,1] )")
assert f != t, "NodeUtil.pm no longer has the lines patched here"
open(sys.argv[2], "w").write(f)
PY
printf '5\n%s\n%s\n%s\n%s\n0\n' "${RFILES[-1]}" "$(stat -c %s "${RFILES[-1]}")" "$LATEST_FILE" "$LATEST_POS" >"$WORK/relay-log.info"
MHA_W=$WORK/mha
mha() { # COMMAND TARGET_FILE TARGET_POS
    PERL5LIB=$MHA_LIB apply_diff_relay_logs --command="$1" \
        --latest_mlf="$LATEST_FILE" --latest_rmlp="$LATEST_POS" \
        --target_mlf="$2" --target_rmlp="$3" --server_id="$REPLICA_ID" \
        --relay_log_info="$WORK/relay-log.info" --relay_dir="$RELAY_DIR/" \
        --workdir="$MHA_W" --diff_file_readtolatest="$MHA_W/diff.binlog"
}
mha_generate() { mha generate "$T05_FILE" "$T05_POS"; }
mha_generate_fsync() { mha generate "$T05_FILE" "$T05_POS" && sync "$MHA_W/diff.binlog"; }
mha_find() { mha find "$T05_FILE" "$T05_POS"; }
ours_one() { "$BIN" diff --state "$WORK/one.json" --write "$WORK/out"; }
ours_three() { "$BIN" diff --state "$WORK/three.json" --write "$WORK/out"; }
ours_plan3() { "$BIN" diff --state "$WORK/three.json"; }
ours_map() { "$BIN" map --relay "$RELAY_DIR/relay-bin.index" --target "$1" --latest "$LATEST_FILE:$LATEST_POS" --server-id "$REPLICA_ID"; }
map05() { ours_map "$T05_FILE:$T05_POS"; }
map40() { ours_map "$T40_FILE:$T40_POS"; }
map75() { ours_map "$T75_FILE:$T75_POS"; }
clean_out() {
    rm -rf -- "$WORK/out" "$MHA_W"
    mkdir -p "$MHA_W"
    sync
}

# ---------------------------------------------------------------------------
# 4. timings

declare -A BEST=() ALL=()
time_best() { # NAME FUNCTION: best wall time of RUNS runs (outputs removed and synced before each)
    local name=$1 fn=$2 k s e us best=
    for ((k = 0; k < RUNS; k++)); do
        clean_out
        s=${EPOCHREALTIME/./}
        "$fn" >"$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out" >&2; die "$name failed"; }
        e=${EPOCHREALTIME/./}
        us=$((e - s))
        ALL[$name]+="$(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1e6 }') "
        if [[ -z $best ]] || ((us < best)); then best=$us; fi
    done
    BEST[$name]=$(awk -v u="$best" 'BEGIN { printf "%.6f", u / 1e6 }')
    log "$name: best ${BEST[$name]} s (runs: ${ALL[$name]})"
}

echo
echo "== data (MariaDB $(mariadbd --version | awk '{print $3}'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start)"
echo "   master binlogs ($MASTER_TOTAL bytes):"
for f in "${MFILES[@]}"; do printf '   %12d  %s\n' "$(stat -c %s "$f")" "$(basename "$f")"; done
echo "   relay logs of the replica (server_id $REPLICA_ID, $RELAY_TOTAL bytes):"
for f in "${RFILES[@]}"; do printf '   %12d  %s\n' "$(stat -c %s "$f")" "$(basename "$f")"; done
echo "   latest replica read: $LATEST_FILE:$LATEST_POS; $(wc -l <"$DATA/boundaries") recorded transaction boundaries"
echo
echo "== targets (recorded boundaries; bytes and transactions of our plan)"
printf '   %-4s %-28s %-28s %12s  %12s  %6s\n' target "master position" "relay start (ours)" "source bytes" "diff bytes" trx
for t in t05 t40 t75 tend; do
    case $t in t05) tp="$T05_FILE:$T05_POS" ;; t40) tp="$T40_FILE:$T40_POS" ;; t75) tp="$T75_FILE:$T75_POS" ;; tend) tp="$TEND_FILE:$TEND_POS" ;; esac
    printf '   %-4s %-28s %-28s %12d  %12d  %6d\n' "$t" "$tp" "${RSTART[$t]}" "${SRC[$t]}" "${DIFFB[$t]}" "${TRX[$t]}"
done

log "timing, best of $RUNS runs each (load: $(cut -d' ' -f1-3 /proc/loadavg))"
time_best mha-generate mha_generate
grep -q "Generating diff relay log succeeded" "$WORK/mha-generate.out" || { cat "$WORK/mha-generate.out" >&2; die "MHA generate did not succeed"; }
time_best mha-generate-fsync mha_generate_fsync
time_best mha-find mha_find
grep -q "Target relay log FOUND" "$WORK/mha-find.out" || { cat "$WORK/mha-find.out" >&2; die "MHA find did not succeed"; }
time_best ours-1 ours_one
time_best ours-3 ours_three
time_best ours-3-plan-only ours_plan3
declare -A MAPMS=() MAPLINE=()
for t in 05 40 75; do
    best=
    for ((k = 0; k < RUNS; k++)); do
        s=${EPOCHREALTIME/./}
        out=$("map$t") || die "binlog-diff map failed for t$t"
        e=${EPOCHREALTIME/./}
        ms=$(sed -n 's/.*, \([0-9.]*\) ms).*/\1/p' <<<"$out")
        us=$((e - s))
        if [[ -z $best ]] || ((us < best)); then best=$us; fi
        if [[ -z ${MAPMS[$t]:-} ]] || (($(awk -v a="$ms" -v b="${MAPMS[$t]}" 'BEGIN { print (a < b) }'))); then MAPMS[$t]=$ms; fi
        MAPLINE[$t]=$out
    done
    BEST[map-t$t]=$(awk -v u="$best" 'BEGIN { printf "%.6f", u / 1e6 }')
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# MHA found the same relay start?
MHA_START=$(sed -n 's/.*start_file:\([^,]*\), start_pos:\([0-9]*\).*/\1:\2/p' "$WORK/mha-generate.out" | tail -n 1)

mbs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%8.0f", b / t / 1e6 }'; }
echo
echo "== wall time, best of $RUNS runs (warm page cache; load average $LOAD_END at the end; runs in the log above)"
printf '   %-62s %9s  %9s  %s\n' command seconds "MB/s" "(source bytes read)"
row() { printf '   %-62s %9.3f  %9s  %s\n' "$1" "$2" "$3" "$4"; }
row "MHA  generate, 5% target (1 replica)" "${BEST[mha-generate]}" "$(mbs "${SRC[t05]}" "${BEST[mha-generate]}")" "${SRC[t05]}"
row "MHA  generate + fsync of its diff, 5% target" "${BEST[mha-generate-fsync]}" "$(mbs "${SRC[t05]}" "${BEST[mha-generate-fsync]}")" "${SRC[t05]}"
row "MHA  find, 5% target" "${BEST[mha-find]}" "-" ""
row "ours diff --write, 1 replica (5%)" "${BEST[ours-1]}" "$(mbs "${SRC[t05]}" "${BEST[ours-1]}")" "${SRC[t05]}"
row "ours diff --write, 3 replicas (5%, 40%, 75%) together" "${BEST[ours-3]}" "$(mbs "$SRC3" "${BEST[ours-3]}")" "$SRC3"
row "ours diff, plan only (no --write), 3 replicas" "${BEST[ours-3-plan-only]}" "$(mbs "$SRC3" "${BEST[ours-3-plan-only]}")" "$SRC3"
for t in 05 40 75; do
    row "ours map, $((10#$t))% target (whole process; in-process ${MAPMS[$t]} ms)" "${BEST[map-t$t]}" "-" ""
done
echo
echo "== ratios (wall time; < 1 means ours is faster)"
ratio() { awk -v a="${BEST[$1]}" -v b="${BEST[$2]}" -v l="$3" 'BEGIN { printf "   %-62s %6.2f\n", l, a / b }'; }
ratio ours-3 mha-generate "ours, 3 replicas / MHA generate, 1 replica"
ratio ours-1 mha-generate "ours, 1 replica  / MHA generate, 1 replica"
ratio ours-3 mha-generate-fsync "ours, 3 replicas / MHA generate + fsync, 1 replica"
ratio ours-1 mha-generate-fsync "ours, 1 replica  / MHA generate + fsync, 1 replica"
echo
echo "== position mapping (ours: binlog-diff map; MHA: start found by generate)"
for t in 05 40 75; do echo "   ${MAPLINE[$t]}"; done
echo "   MHA generate, 5% target -> relay $MHA_START; ours -> relay ${RSTART[t05]}"

# ---------------------------------------------------------------------------
# memory

echo
echo "== peak memory (GNU time -v max RSS; RssAnon = heap/stack, RssFile = mapped file pages, sampled from /proc)"
peak_mem() { # LABEL COMMAND...: GNU time's max RSS, and RssAnon/RssFile of the command sampled every 10 ms
    local label=$1 tf pid child anon=0 file=0 k v
    shift
    tf=$WORK/time.out
    clean_out
    "$TIME" -v -o "$tf" "$@" >/dev/null 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        child=
        read -r child _ <"/proc/$pid/task/$pid/children" 2>/dev/null || true
        if [[ -n $child ]]; then
            while read -r k v _; do
                case $k in
                    RssAnon:) ((v > anon)) && anon=$v ;;
                    RssFile:) ((v > file)) && file=$v ;;
                esac
            done <"/proc/$child/status" 2>/dev/null || true
        fi
        sleep 0.01
    done
    wait "$pid" || die "$label failed: $(cat "$tf")"
    awk -v l="$label" -v a="$anon" -v f="$file" -F': ' '
        /User time/ { u = $2 } /System time/ { sy = $2 } /Elapsed/ { w = $2 } /Maximum resident set size/ { m = $2 }
        END { printf "   %-50s max RSS %7.1f MiB  RssAnon %6.1f MiB  RssFile %7.1f MiB   (wall %s, user %.2f s, sys %.2f s)\n",
              l, m / 1024, a / 1024, f / 1024, w, u, sy }' "$tf"
}
if [[ -x $TIME ]]; then
    peak_mem "ours diff --write, 3 replicas (${SRC3} B)" "$BIN" diff --state "$WORK/three.json" --write "$WORK/out"
    peak_mem "ours diff --write, 1 replica 5% (${SRC[t05]} B)" "$BIN" diff --state "$WORK/one.json" --write "$WORK/out"
    peak_mem "ours diff --write, small target (${SRC[tend]} B)" "$BIN" diff --state "$WORK/end.json" --write "$WORK/out"
    peak_mem "ours map, 5% target" "$BIN" map --relay "$RELAY_DIR/relay-bin.index" --target "$T05_FILE:$T05_POS" --latest "$LATEST_FILE:$LATEST_POS"
    peak_mem "MHA generate, 5% target (${SRC[t05]} B)" env PERL5LIB="$MHA_LIB" apply_diff_relay_logs --command=generate \
        --latest_mlf="$LATEST_FILE" --latest_rmlp="$LATEST_POS" --target_mlf="$T05_FILE" --target_rmlp="$T05_POS" \
        --server_id="$REPLICA_ID" --relay_log_info="$WORK/relay-log.info" --relay_dir="$RELAY_DIR/" \
        --workdir="$MHA_W" --diff_file_readtolatest="$MHA_W/diff.binlog"
    echo "   (ours reads the relay files in windows of at most 8 MiB, never mapped: RssAnon holds those"
    echo "    windows, also the ones queued to each diff's copier; MHA holds the whole diff)"
else
    echo "   /usr/bin/time not available"
fi

# ---------------------------------------------------------------------------
# 5. correctness: same master data events in our 5% diff and in MHA's

echo
echo "== correctness: our 5% diff vs MHA's"
clean_out
ours_one >/dev/null
mha_generate >/dev/null 2>&1 || die "MHA generate failed"
events_of() { # master data events: (type, log_pos), leaving out per-file metadata and the replica's own events
    "$BIN" dump "$1" | awk '$3 == "server_id=1" && $2 !~ /^(FORMAT_DESCRIPTION_EVENT|ROTATE_EVENT|GTID_LIST_EVENT|BINLOG_CHECKPOINT_EVENT|STOP_EVENT)$/ { print $2, $5 }'
}
events_of "$WORK/out/t05.diff.binlog" >"$WORK/ours.events" || die "binlog-diff dump of our diff failed"
events_of "$MHA_W/diff.binlog" >"$WORK/mha.events" || die "binlog-diff dump of MHA's diff failed"
printf '   ours: %12d bytes, %7d master data events (%s .. %s)\n' "$(stat -c %s "$WORK/out/t05.diff.binlog")" "$(wc -l <"$WORK/ours.events")" \
    "$(head -n 1 "$WORK/ours.events")" "$(tail -n 1 "$WORK/ours.events")"
printf '   MHA:  %12d bytes, %7d master data events (%s .. %s)\n' "$(stat -c %s "$MHA_W/diff.binlog")" "$(wc -l <"$WORK/mha.events")" \
    "$(head -n 1 "$WORK/mha.events")" "$(tail -n 1 "$WORK/mha.events")"
if cmp -s "$WORK/ours.events" "$WORK/mha.events"; then
    echo "   SAME sequence of (type, log_pos) master data events"
else
    echo "   DIFFERENT (first differences):"
    diff "$WORK/ours.events" "$WORK/mha.events" | head -n 10 | sed 's/^/     /'
    exit 1
fi

#!/usr/bin/env bash
#
# scripts/topology.sh -- start a throw-away MariaDB replication topology
# (1 master + N replicas on 127.0.0.1, classic file/position replication) for
# manual experiments and demos.  It is the Rust test harness of
# tests/support/topology.rs, kept alive by the ignored test `hold_topology`
# in tests/topology.rs; servers die with it (never outlive it).
#
# Usage:
#     scripts/topology.sh start     build if needed, start, wait, print ports/dirs
#     scripts/topology.sh status    print topology.env and SHOW SLAVE STATUS summaries
#     scripts/topology.sh stop      clean shutdown; datadirs removed unless BINLOG_DIFF_KEEP=1
#
# Knobs (environment, read at `start`):
#     BINLOG_DIFF_REPLICAS=2            number of replicas
#     BINLOG_DIFF_BINLOG_FORMAT=ROW     ROW | STATEMENT | MIXED
#     BINLOG_DIFF_BINLOG_CHECKSUM=CRC32 CRC32 | NONE
#     BINLOG_DIFF_MAX_BINLOG_SIZE=1048576, BINLOG_DIFF_MAX_RELAY_LOG_SIZE=0 (bytes)
#     BINLOG_DIFF_GTID=1                MASTER_USE_GTID=slave_pos instead of file/pos
#     BINLOG_DIFF_WORKLOAD=N            write N seeded workload steps (database `bd`) first
#     BINLOG_DIFF_HOLD_SECS=3600        stop by itself after this long
#     BINLOG_DIFF_KEEP=1                keep the datadirs after `stop`
#     BINLOG_DIFF_TOPO_STATE=DIR        state dir (default: target/topology)
#
# Connect with the unix socket (root@localhost has no password), e.g.
#     source target/topology/topology.env
#     mariadb --no-defaults -uroot --socket="$MASTER_SOCKET"
# or over TCP as root@127.0.0.1 (password: ADMIN_PASSWORD in
# tests/support/topology.rs) on $MASTER_PORT, $REPLICA1_PORT, ...
#
# Without this script: `BINLOG_DIFF_KEEP=1 cargo test --test topology -- --nocapture`
# leaves every test's (stopped) datadirs in $TMPDIR/binlog-diff-topo-*/.
set -euo pipefail

cd "$(dirname "$0")/.."
STATE=${BINLOG_DIFF_TOPO_STATE:-$PWD/target/topology}
PIDFILE=$STATE/cargo.pid

running() { [[ -f $PIDFILE ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

cmd_start() {
    if running; then
        echo "already running (cargo pid $(cat "$PIDFILE")); see: $0 status" >&2
        exit 1
    fi
    rm -rf -- "$STATE"
    mkdir -p "$STATE"
    echo "building and starting (log: $STATE/cargo.log) ..." >&2
    BINLOG_DIFF_HOLD_DIR=$STATE nohup cargo test --test topology -- \
        --ignored --exact hold_topology --nocapture --test-threads=1 \
        >"$STATE/cargo.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    local deadline=$((SECONDS + 900))
    until [[ -f $STATE/ready ]]; do
        if ! running; then
            tail -n 40 "$STATE/cargo.log" >&2
            echo "failed to start (see $STATE/cargo.log)" >&2
            exit 1
        fi
        if ((SECONDS > deadline)); then
            echo "not ready after 900s (see $STATE/cargo.log)" >&2
            exit 1
        fi
        sleep 0.2
    done
    cat "$STATE/ready"
    echo "environment: $STATE/topology.env   stop with: $0 stop"
}

cmd_status() {
    if ! running; then
        echo "not running"
        return 1
    fi
    cat "$STATE/topology.env"
    # shellcheck disable=SC1091
    source "$STATE/topology.env"
    local name var
    for name in $SERVERS; do
        var=${name^^}_SOCKET
        printf '%-9s ' "$name"
        if [[ $name == master ]]; then
            mariadb --no-defaults -uroot --socket="${!var}" -N -e 'SHOW MASTER STATUS' | awk '{print "binlog at " $1 ":" $2}'
        else
            mariadb --no-defaults -uroot --socket="${!var}" -e 'SHOW SLAVE STATUS\G' |
                awk '/ Slave_IO_Running:| Slave_SQL_Running:| Master_Log_File:| Read_Master_Log_Pos:| Exec_Master_Log_Pos:/ {printf "%s %s  ", $1, $2} END {print ""}'
        fi
    done
}

cmd_stop() {
    if ! running; then
        echo "not running"
        return 0
    fi
    local pid
    pid=$(cat "$PIDFILE")
    touch "$STATE/stop"
    local deadline=$((SECONDS + 120))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            echo "hold_topology did not exit within 120s; SIGKILL (its servers die with it)" >&2
            if [[ -f $STATE/test.pid ]]; then kill -9 "$(cat "$STATE/test.pid")" 2>/dev/null || true; fi
            kill "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    grep -E 'kept|error' "$STATE/cargo.log" || true
    rm -f "$PIDFILE"
    echo "stopped"
}

case ${1:-} in
    start) cmd_start ;;
    status) cmd_status ;;
    stop) cmd_stop ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 2
        ;;
esac

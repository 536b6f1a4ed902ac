# shellcheck shell=bash
#
# scripts/lib/mariadb.sh -- helpers to run throw-away MariaDB servers (and
# classic file/position replication between them) for fixture generation and
# integration tests.  Source it from bash:
#
#     source scripts/lib/mariadb.sh
#     mdb_init                      # create $MDB_WORKDIR, install EXIT trap
#     port=$(free_port 23306)
#     start_server master "$port" --server-id=1 --binlog-format=ROW
#     wait_ready master
#     sql master "CREATE DATABASE d"
#     sql master <<'SQL'            # SQL may also come on stdin
#     CREATE TABLE d.t (id INT PRIMARY KEY);
#     SQL
#     stop_server master            # clean shutdown (binlog closed, STOP event)
#     kill_server master            # ... or SIGKILL (binlog left IN_USE)
#
# Conventions
#   * Every server NAME gets its own directory $MDB_WORKDIR/NAME with
#       data/        the datadir (binlogs: data/mysql-bin.*, relay logs:
#                    data/relay-bin.*, data/master.info, data/relay-log.info)
#       sock         unix socket        pid   pid file
#       error.log    server error log   install.log  mariadb-install-db output
#   * Only 127.0.0.1 and unix sockets are used.  Clients connect as root over
#     the unix socket with --no-defaults.
#   * Servers are started directly by this shell (`mariadbd ... &`), their pid
#     is remembered, and they are only ever signalled by that pid.  So call
#     start_server in the main shell, not inside $(...) or a pipeline.
#   * Nothing here sleeps for synchronisation: all waits poll a condition with
#     a bounded timeout (MDB_TIMEOUT seconds, default 60).
#
# Environment (all optional)
#   MDB_WORKDIR   where server directories go (default: mktemp -d by mdb_init)
#   MDB_KEEP=1    keep $MDB_WORKDIR on exit (for debugging)
#   MDB_TIMEOUT   default timeout in seconds for the wait_* helpers (60)
#   MDB_VERBOSE=1 log every helper action to stderr
#   MDB_TEMPLATE  1 (default): run mariadb-install-db once and copy the
#                 datadir for each server; 0: run it for every server
#   MARIADBD, MARIADB, MARIADB_ADMIN, MARIADB_INSTALL_DB   binaries to use
#
# Public functions (return non-zero / die on failure, see each comment):
#   mdb_init                       set up $MDB_WORKDIR and the EXIT trap
#   mdb_cleanup                    SIGKILL remaining servers (by pid), rm workdir
#   free_port START                print the first free TCP port >= START
#   start_server NAME PORT OPTS... install a datadir and start mariadbd
#   wait_ready NAME [TIMEOUT]      poll `mariadb-admin ping` until it answers
#   stop_server NAME [TIMEOUT]     `mariadb-admin shutdown`, wait for exit
#   kill_server NAME               kill -9 PID, wait for exit
#   sql NAME [SQL|-] [CLIENT-OPTS..] run SQL (arg, or stdin for none/"-"),
#                                  batch mode, no column names
#   sql_raw NAME [CLIENT-OPTS..]   run stdin verbatim (--binary-mode)
#   server_dir/server_datadir/server_port/server_pid/server_socket NAME
#   sql_vertical NAME 'SHOW ...'  one statement, vertical output with names
#   status_field NAME 'SHOW ...' FIELD   one field of a SHOW ... \G output
#   setup_replication REPLICA MASTER [FILE] [POS]   repl user + CHANGE MASTER
#   slave_status REPLICA           SHOW SLAVE STATUS as "Field<TAB>Value" lines
#   wait_caught_up REPLICA MASTER [TIMEOUT]         poll SHOW SLAVE STATUS
#   wait_sql_applied REPLICA [TIMEOUT]             SQL thread applied all read
#   wait_io_stopped / wait_sql_stopped / wait_io_running REPLICA [TIMEOUT]

# ---------------------------------------------------------------------------
# configuration

: "${MARIADBD:=mariadbd}"
: "${MARIADB:=mariadb}"
: "${MARIADB_ADMIN:=mariadb-admin}"
: "${MARIADB_INSTALL_DB:=mariadb-install-db}"
: "${MDB_TIMEOUT:=60}"
: "${MDB_VERBOSE:=0}"
: "${MDB_KEEP:=0}"
: "${MDB_TEMPLATE:=1}"

# replication account created by setup_replication
: "${MDB_REPL_USER:=repl}"
: "${MDB_REPL_PASSWORD:=repl_pw}"

declare -gA MDB_PID=()    # NAME -> pid of mariadbd
declare -gA MDB_PORT=()   # NAME -> TCP port (127.0.0.1)
declare -ga MDB_NAMES=()  # start order

mdb_log() { if [[ $MDB_VERBOSE == 1 ]]; then printf '[mdb %s] %s\n' "$(date +%T)" "$*" >&2; fi; }
mdb_die() { printf '[mdb] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# lifecycle

# mdb_init: create the work directory (unless MDB_WORKDIR is already set) and
# install an EXIT trap that kills every server started by this shell (by pid)
# and removes the work directory.  If the caller has its own EXIT trap it
# should call mdb_cleanup from it instead.
mdb_init() {
    if [[ -z ${MDB_WORKDIR:-} ]]; then
        MDB_WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/mdb.XXXXXX")
    fi
    mkdir -p "$MDB_WORKDIR"
    export MDB_WORKDIR
    trap 'mdb_cleanup' EXIT
    mdb_log "workdir $MDB_WORKDIR"
}

# mdb_cleanup: SIGKILL every still-running server we started (only by its
# recorded pid), then remove $MDB_WORKDIR unless MDB_KEEP=1.
mdb_cleanup() {
    local rc=$? name pid
    for name in "${MDB_NAMES[@]}"; do
        pid=${MDB_PID[$name]:-}
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            mdb_log "cleanup: kill -9 $name ($pid)"
            kill -9 "$pid" 2>/dev/null || true
            { wait "$pid"; } 2>/dev/null || true
        fi
    done
    if [[ -n ${MDB_WORKDIR:-} && -d $MDB_WORKDIR ]]; then
        if [[ $MDB_KEEP == 1 ]]; then
            printf '[mdb] keeping %s\n' "$MDB_WORKDIR" >&2
        else
            rm -rf -- "$MDB_WORKDIR"
        fi
    fi
    return "$rc"
}

server_dir()     { printf '%s/%s\n' "$MDB_WORKDIR" "$1"; }
server_datadir() { printf '%s/%s/data\n' "$MDB_WORKDIR" "$1"; }
server_socket()  { printf '%s/%s/sock\n' "$MDB_WORKDIR" "$1"; }
server_port()    { printf '%s\n' "${MDB_PORT[$1]:?unknown server $1}"; }
server_pid()     { printf '%s\n' "${MDB_PID[$1]:?unknown server $1}"; }

# port_in_use PORT: true if something accepts TCP connections on 127.0.0.1:PORT
# or the port shows up as listening.
port_in_use() {
    local port=$1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if command -v ss >/dev/null 2>&1 && ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
        return 0
    fi
    return 1
}

# free_port START: print the first port >= START that is neither in use nor
# already handed to a server of ours.
free_port() {
    local port=$1 used name
    while ((port < 65000)); do
        used=0
        for name in "${MDB_NAMES[@]}"; do
            [[ ${MDB_PORT[$name]} == "$port" ]] && used=1
        done
        if ((used == 0)) && ! port_in_use "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
        port=$((port + 1))
    done
    mdb_die "no free port >= $1"
}

# _mdb_install_db DATADIR LOGFILE: mariadb-install-db (root without password,
# no test db, small InnoDB redo log).
_mdb_install_db() {
    local data=$1 logf=$2
    mdb_log "install-db -> $data"
    if ! "$MARIADB_INSTALL_DB" --no-defaults --datadir="$data" --user=root \
        --auth-root-authentication-method=normal --skip-test-db \
        --innodb-log-file-size=4M >"$logf" 2>&1; then
        cat "$logf" >&2
        mdb_die "mariadb-install-db failed for $data"
    fi
}

# start_server NAME PORT [MARIADBD-OPTS...]
#   Creates $MDB_WORKDIR/NAME, initialises data/ with mariadb-install-db
#   (root without password, no test db; with MDB_TEMPLATE=1, the default, the
#   install runs once per work dir into $MDB_WORKDIR/.template and each server
#   gets a copy) and starts mariadbd in the background
#   with binlog (data/mysql-bin) and relay log (data/relay-bin) enabled,
#   given as names relative to the datadir (so the .index files and
#   relay-log.info contain "./mysql-bin.000001"-style entries; pass
#   --log-bin="$(server_datadir NAME)/mysql-bin" to get absolute paths),
#   --log-slave-updates, --relay-log-purge=0, server-id=PORT and a 32M buffer
#   pool.  OPTS are appended after the defaults; a default whose option name
#   appears in OPTS is dropped (e.g. --server-id=1, --log-bin=/abs/path).
#   The effective command line is saved in $MDB_WORKDIR/NAME/options.
#   Does not wait: call wait_ready NAME next.
start_server() {
    local name=$1 port=$2
    shift 2
    [[ -z ${MDB_PID[$name]:-} ]] || mdb_die "server $name already started"
    [[ -n ${MDB_WORKDIR:-} ]] || mdb_init
    local dir data
    dir=$(server_dir "$name")
    data=$(server_datadir "$name")
    port_in_use "$port" && mdb_die "port $port is already in use"
    rm -rf -- "$dir"
    mkdir -p "$dir"
    if [[ $MDB_TEMPLATE == 1 ]]; then
        # initialise once per work dir, then copy (identical result, faster)
        local tmpl=$MDB_WORKDIR/.template
        if [[ ! -d $tmpl/data ]]; then
            mkdir -p "$tmpl"
            _mdb_install_db "$tmpl/data" "$tmpl/install.log"
        fi
        mdb_log "copy initialised datadir -> $data"
        cp -a -- "$tmpl/data" "$data"
    else
        _mdb_install_db "$data" "$dir/install.log"
    fi
    local -a defaults=(
        --datadir="$data"
        --socket="$dir/sock"
        --port="$port"
        --bind-address=127.0.0.1
        --server-id="$port"
        --log-bin=mysql-bin
        --relay-log=relay-bin
        --log-slave-updates
        --relay-log-purge=0
        --user=root
        --skip-name-resolve
        --pid-file="$dir/pid"
        --log-error="$dir/error.log"
        --innodb-buffer-pool-size=32M
    )
    # drop every default that OPTS set themselves (compared by option name,
    # "_" and "-" being equivalent), so the effective command line is readable
    local -A given=()
    local o d n
    for o in "$@"; do
        n=${o%%=*}
        given[${n//_/-}]=1
    done
    local -a opts=(--no-defaults)
    for d in "${defaults[@]}"; do
        n=${d%%=*}
        [[ -n ${given[${n//_/-}]:-} ]] || opts+=("$d")
    done
    opts+=("$@")
    mdb_log "start $name: ${opts[*]}"
    printf '%s\n' "${opts[@]}" >"$dir/options"
    "$MARIADBD" "${opts[@]}" </dev/null >>"$dir/stdout.log" 2>&1 &
    MDB_PID[$name]=$!
    MDB_PORT[$name]=$port
    MDB_NAMES+=("$name")
}

# wait_ready NAME [TIMEOUT]: poll `mariadb-admin ping` on the socket until the
# server answers; fails (with the error log tail) if mariadbd exits or the
# timeout passes.
wait_ready() {
    local name=$1 timeout=${2:-$MDB_TIMEOUT}
    local pid=${MDB_PID[$name]:?unknown server $name} sock deadline
    sock=$(server_socket "$name")
    deadline=$((SECONDS + timeout))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$(server_dir "$name")/error.log" >&2 || true
            mdb_die "server $name (pid $pid) exited during startup"
        fi
        if [[ -S $sock ]] && "$MARIADB_ADMIN" --no-defaults -uroot --socket="$sock" \
            --connect-timeout=2 ping >/dev/null 2>&1; then
            mdb_log "$name ready"
            return 0
        fi
        ((SECONDS < deadline)) || {
            tail -n 30 "$(server_dir "$name")/error.log" >&2 || true
            mdb_die "server $name not ready after ${timeout}s"
        }
        sleep 0.1
    done
}

# _wait_pid_exit PID TIMEOUT: poll until the process is gone (reaps it if it
# is our child).  Returns 1 on timeout.
_wait_pid_exit() {
    local pid=$1 timeout=$2 deadline
    deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null; do
        # reap zombies of our own children
        if [[ $(ps -o stat= -p "$pid" 2>/dev/null) == Z* ]]; then break; fi
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
    return 0
}

# stop_server NAME [TIMEOUT]: clean shutdown via `mariadb-admin shutdown`
# (closes the binlog: STOP event written, IN_USE flag cleared), then wait for
# the pid to exit.  Falls back to kill -9 (and fails) on timeout.
stop_server() {
    local name=$1 timeout=${2:-$MDB_TIMEOUT}
    local pid=${MDB_PID[$name]:?unknown server $name}
    if ! kill -0 "$pid" 2>/dev/null; then
        mdb_log "$name already stopped"
        return 0
    fi
    mdb_log "shutdown $name ($pid)"
    "$MARIADB_ADMIN" --no-defaults -uroot --socket="$(server_socket "$name")" shutdown >/dev/null 2>&1 || true
    if ! _wait_pid_exit "$pid" "$timeout"; then
        kill -9 "$pid" 2>/dev/null || true
        _wait_pid_exit "$pid" 10 || true
        mdb_die "server $name did not shut down within ${timeout}s (killed)"
    fi
}

# kill_server NAME: SIGKILL the server by pid (simulated crash: the binlog
# keeps LOG_EVENT_BINLOG_IN_USE_F in its FDE and has no STOP/ROTATE event).
kill_server() {
    local name=$1
    local pid=${MDB_PID[$name]:?unknown server $name}
    mdb_log "kill -9 $name ($pid)"
    kill -9 "$pid" 2>/dev/null || true
    # reap our child inside a redirected block so bash does not print "Killed"
    { wait "$pid"; } 2>/dev/null || true
    _wait_pid_exit "$pid" 30 || mdb_die "server $name (pid $pid) survived SIGKILL"
}

# ---------------------------------------------------------------------------
# clients

# sql NAME [SQL] [CLIENT-OPTS...]
#   Runs SQL as root over the socket in one session, batch mode, no column
#   names (tab separated output on stdout).  Without SQL (or with SQL "-") the
#   statements are read from stdin.  Extra options go to the mariadb client
#   (e.g. --default-character-set=latin1, -vvv, --table).
sql() {
    local name=$1
    shift
    local q=-
    if (($# > 0)); then q=$1; shift; fi
    local -a cmd=("$MARIADB" --no-defaults -uroot --socket="$(server_socket "$name")"
        --batch --skip-column-names "$@")
    if [[ $q == - ]]; then
        "${cmd[@]}"
    else
        "${cmd[@]}" -e "$q"
    fi
}

# sql_raw NAME [CLIENT-OPTS...]: feed stdin verbatim (--binary-mode, no
# character-set conversion by the client beyond what OPTS ask for).  Use this
# for statements containing bytes that are not valid UTF-8.
sql_raw() {
    local name=$1
    shift
    "$MARIADB" --no-defaults -uroot --socket="$(server_socket "$name")" \
        --batch --skip-column-names --binary-mode "$@"
}

# sql_vertical NAME STMT: run one statement with vertical (\G) output and
# column names, e.g. sql_vertical r 'SHOW SLAVE STATUS'.
sql_vertical() {
    "$MARIADB" --no-defaults -uroot --socket="$(server_socket "$1")" -e "$2\\G"
}

# status_field NAME 'SHOW ... STATUS' FIELD: print FIELD from the vertical
# (\G) output of a SHOW statement (empty if absent).
status_field() {
    local name=$1 stmt=$2 field=$3
    sql_vertical "$name" "$stmt" |
        awk -v f="$field" '{ k=$1; sub(/:$/, "", k); if (k == f) { sub(/^[^:]*: ?/, ""); print; exit } }'
}

# ---------------------------------------------------------------------------
# replication

# setup_replication REPLICA MASTER [FILE] [POS] [EXTRA-CHANGE-MASTER-CLAUSES]
#   Creates the replication account on MASTER (with sql_log_bin=0 so it does
#   not appear in the binlog), points REPLICA at MASTER with classic
#   file/position coordinates (default mysql-bin.000001 / 4, i.e. the very
#   beginning; MASTER_USE_GTID=no) and runs START SLAVE.
setup_replication() {
    local replica=$1 master=$2 file=${3:-mysql-bin.000001} pos=${4:-4} extra=${5:-}
    local mport
    mport=$(server_port "$master")
    sql "$master" <<SQL
SET SESSION sql_log_bin = 0;
CREATE USER IF NOT EXISTS '$MDB_REPL_USER'@'127.0.0.1' IDENTIFIED BY '$MDB_REPL_PASSWORD';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '$MDB_REPL_USER'@'127.0.0.1';
SQL
    sql "$replica" <<SQL
CHANGE MASTER TO
  MASTER_HOST = '127.0.0.1',
  MASTER_PORT = $mport,
  MASTER_USER = '$MDB_REPL_USER',
  MASTER_PASSWORD = '$MDB_REPL_PASSWORD',
  MASTER_LOG_FILE = '$file',
  MASTER_LOG_POS = $pos,
  MASTER_CONNECT_RETRY = 1,
  MASTER_USE_GTID = no $extra;
START SLAVE;
SQL
    mdb_log "replication $master -> $replica from $file:$pos"
}

# slave_status REPLICA: print "Field<TAB>Value" lines for SHOW SLAVE STATUS.
slave_status() {
    sql_vertical "$1" 'SHOW SLAVE STATUS' |
        awk '/^\*+/ { next } { k=$1; sub(/:$/, "", k); sub(/^[ \t]*[^:]*: ?/, ""); print k "\t" $0 }'
}

# wait_caught_up REPLICA MASTER [TIMEOUT]
#   Polls until the replica's IO thread has read and its SQL thread has
#   executed everything up to the master's current SHOW MASTER STATUS
#   coordinates (re-read on every iteration, since the master may append
#   Binlog_checkpoint events asynchronously).  Fails fast if a replication
#   thread reports an error.
wait_caught_up() {
    local replica=$1 master=$2 timeout=${3:-$MDB_TIMEOUT}
    local deadline mfile mpos st
    deadline=$((SECONDS + timeout))
    while :; do
        read -r mfile mpos _ < <(sql "$master" 'SHOW MASTER STATUS')
        st=$(slave_status "$replica")
        local f r e rf ioerr sqlerr
        f=$(awk -F'\t' '$1=="Master_Log_File"{print $2}' <<<"$st")
        r=$(awk -F'\t' '$1=="Read_Master_Log_Pos"{print $2}' <<<"$st")
        rf=$(awk -F'\t' '$1=="Relay_Master_Log_File"{print $2}' <<<"$st")
        e=$(awk -F'\t' '$1=="Exec_Master_Log_Pos"{print $2}' <<<"$st")
        ioerr=$(awk -F'\t' '$1=="Last_IO_Error"{print $2}' <<<"$st")
        sqlerr=$(awk -F'\t' '$1=="Last_SQL_Error"{print $2}' <<<"$st")
        [[ -z $sqlerr ]] || mdb_die "$replica SQL thread error: $sqlerr"
        [[ -z $ioerr ]] || mdb_log "$replica IO thread error (retrying): $ioerr"
        if [[ $f == "$mfile" && $rf == "$mfile" && $r == "$mpos" && $e == "$mpos" ]]; then
            mdb_log "$replica caught up with $master at $mfile:$mpos"
            return 0
        fi
        ((SECONDS < deadline)) || mdb_die "$replica not caught up with $master ($mfile:$mpos) after ${timeout}s: read $f:$r exec $rf:$e; io_err='$ioerr'"
        sleep 0.05
    done
}

# _wait_slave_field REPLICA FIELD VALUE [TIMEOUT]
_wait_slave_field() {
    local replica=$1 field=$2 want=$3 timeout=${4:-$MDB_TIMEOUT} deadline v
    deadline=$((SECONDS + timeout))
    while :; do
        v=$(slave_status "$replica" | awk -F'\t' -v f="$field" '$1==f{print $2}')
        [[ $v == "$want" ]] && return 0
        ((SECONDS < deadline)) || mdb_die "$replica: $field is '$v', wanted '$want' after ${timeout}s"
        sleep 0.05
    done
}

# wait_io_stopped / wait_sql_stopped REPLICA [TIMEOUT]: after STOP SLAVE ...
wait_io_stopped()  { _wait_slave_field "$1" Slave_IO_Running No "${2:-$MDB_TIMEOUT}"; }
wait_sql_stopped() { _wait_slave_field "$1" Slave_SQL_Running No "${2:-$MDB_TIMEOUT}"; }
wait_io_running()  { _wait_slave_field "$1" Slave_IO_Running Yes "${2:-$MDB_TIMEOUT}"; }

# wait_sql_applied REPLICA [TIMEOUT]: poll until the SQL thread has executed
# everything the IO thread has read so far (works with the IO thread stopped).
wait_sql_applied() {
    local replica=$1 timeout=${2:-$MDB_TIMEOUT} deadline st
    deadline=$((SECONDS + timeout))
    while :; do
        st=$(slave_status "$replica")
        local f r rf e sqlerr
        f=$(awk -F'\t' '$1=="Master_Log_File"{print $2}' <<<"$st")
        r=$(awk -F'\t' '$1=="Read_Master_Log_Pos"{print $2}' <<<"$st")
        rf=$(awk -F'\t' '$1=="Relay_Master_Log_File"{print $2}' <<<"$st")
        e=$(awk -F'\t' '$1=="Exec_Master_Log_Pos"{print $2}' <<<"$st")
        sqlerr=$(awk -F'\t' '$1=="Last_SQL_Error"{print $2}' <<<"$st")
        [[ -z $sqlerr ]] || mdb_die "$replica SQL thread error: $sqlerr"
        [[ $f == "$rf" && $r == "$e" ]] && return 0
        ((SECONDS < deadline)) || mdb_die "$replica SQL thread did not apply $f:$r (at $rf:$e) within ${timeout}s"
        sleep 0.05
    done
}

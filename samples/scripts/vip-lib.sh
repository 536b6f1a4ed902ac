# vip-lib.sh: what master_ip_failover and master_ip_online_change share.
# Sourced by them (POSIX sh, `set -eu` is theirs); not run by itself.
#
# Everything the scripts change goes through three kinds of steps:
#   vip_remote HOST PORT USER SCRIPT  a shell snippet on a database host, over ssh
#   sql HOST PORT USER PASSWORD SQL   one batch of SQL, through the mariadb/mysql client
#   say / warn                        what an operator reads in the manager's log
# See README.md beside this file for the settings.

say() { printf '%s %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*"; }
warn() { printf '%s WARNING: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >&2; }
die() {
    printf '%s ERROR: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >&2
    exit 1
}

# --- Settings -----------------------------------------------------------------
# The environment wins over the file; the file (shell assignments) is
# $VIP_CONF, else vip.conf beside the script.
load_settings() {
    here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
    conf=${VIP_CONF:-$here/vip.conf}
    # Keep what the environment set, read the file, put the environment back.
    for v in VIP_ADDRESS VIP_INTERFACE VIP_APP_USERS VIP_SSH_OPTIONS VIP_SSH_TIMEOUT VIP_SUDO VIP_ARP_COUNT \
        VIP_SQL_CLIENT VIP_SQL_TIMEOUT VIP_LOCK_METHOD; do
        eval "_env_$v=\${$v-__unset__}"
    done
    if [ -f "$conf" ]; then
        # shellcheck disable=SC1090
        . "$conf"
    elif [ -n "${VIP_CONF:-}" ]; then
        die "VIP_CONF=$VIP_CONF: no such file"
    fi
    for v in VIP_ADDRESS VIP_INTERFACE VIP_APP_USERS VIP_SSH_OPTIONS VIP_SSH_TIMEOUT VIP_SUDO VIP_ARP_COUNT \
        VIP_SQL_CLIENT VIP_SQL_TIMEOUT VIP_LOCK_METHOD; do
        eval "_e=\$_env_$v"
        if [ "$_e" != __unset__ ]; then eval "$v=\$_e"; fi
    done
    VIP_ADDRESS=${VIP_ADDRESS:-}
    VIP_INTERFACE=${VIP_INTERFACE:-}
    VIP_APP_USERS=${VIP_APP_USERS:-}
    VIP_SSH_OPTIONS=${VIP_SSH_OPTIONS:-}
    VIP_SSH_TIMEOUT=${VIP_SSH_TIMEOUT:-10}
    VIP_SUDO=${VIP_SUDO:-}
    VIP_ARP_COUNT=${VIP_ARP_COUNT:-3}
    VIP_SQL_TIMEOUT=${VIP_SQL_TIMEOUT:-10}
    VIP_LOCK_METHOD=${VIP_LOCK_METHOD:-auto}
    if [ -z "${VIP_SQL_CLIENT:-}" ]; then
        if command -v mariadb >/dev/null 2>&1; then VIP_SQL_CLIENT=mariadb; else VIP_SQL_CLIENT=mysql; fi
    fi
}

# Refuses settings that would be unsafe to paste into a remote shell or SQL.
check_settings() {
    case $VIP_ADDRESS in
    '') die "VIP_ADDRESS is not set (e.g. VIP_ADDRESS=192.0.2.100/24 in $conf)" ;;
    */*) ;;
    *) die "VIP_ADDRESS=$VIP_ADDRESS: give the prefix length too (e.g. $VIP_ADDRESS/24)" ;;
    esac
    case $VIP_ADDRESS in
    *[!0-9a-fA-F.:/]*) die "VIP_ADDRESS=$VIP_ADDRESS is not an IPv4 or IPv6 address/prefix" ;;
    esac
    VIP_IP=${VIP_ADDRESS%/*}
    case $VIP_INTERFACE in
    '') die "VIP_INTERFACE is not set (e.g. VIP_INTERFACE=eth0 in $conf)" ;;
    *[!A-Za-z0-9_.:@-]*) die "VIP_INTERFACE=$VIP_INTERFACE is not an interface name" ;;
    esac
    for u in $VIP_APP_USERS; do
        case $u in
        *[!A-Za-z0-9_.-]*) die "VIP_APP_USERS: '$u' is not a plain user name (letters, digits, _ . -)" ;;
        esac
    done
    case $VIP_SSH_TIMEOUT$VIP_ARP_COUNT$VIP_SQL_TIMEOUT in
    *[!0-9]*) die "VIP_SSH_TIMEOUT, VIP_ARP_COUNT and VIP_SQL_TIMEOUT are whole numbers" ;;
    esac
    case $VIP_LOCK_METHOD in
    auto | lock | rename) ;;
    *) die "VIP_LOCK_METHOD=$VIP_LOCK_METHOD: auto, lock or rename" ;;
    esac
    case $VIP_IP in
    *:*) IPV=-6 ;;
    *) IPV=-4 ;;
    esac
}

# --- Arguments ----------------------------------------------------------------
# MHA's arguments (--name=value, or --flag); unknown ones are noted and
# ignored, as MHA adds some between versions. Passwords are kept, never shown.
parse_args() {
    for a in "$@"; do
        case $a in
        --command=*) command=${a#*=} ;;
        --ssh_user=*) ssh_user=${a#*=} ;;
        --orig_master_host=*) orig_master_host=${a#*=} ;;
        --orig_master_ip=*) orig_master_ip=${a#*=} ;;
        --orig_master_port=*) orig_master_port=${a#*=} ;;
        --orig_master_user=*) orig_master_user=${a#*=} ;;
        --orig_master_password=*) orig_master_password=${a#*=} ;;
        --orig_master_ssh_user=*) orig_master_ssh_user=${a#*=} ;;
        --orig_master_ssh_host=*) orig_master_ssh_host=${a#*=} ;;
        --orig_master_ssh_ip=*) ;; # same as --orig_master_ssh_host
        --orig_master_ssh_port=*) orig_master_ssh_port=${a#*=} ;;
        --orig_master_is_new_slave) orig_master_is_new_slave=1 ;;
        --new_master_host=*) new_master_host=${a#*=} ;;
        --new_master_ip=*) new_master_ip=${a#*=} ;;
        --new_master_port=*) new_master_port=${a#*=} ;;
        --new_master_user=*) new_master_user=${a#*=} ;;
        --new_master_password=*) new_master_password=${a#*=} ;;
        --new_master_ssh_user=*) new_master_ssh_user=${a#*=} ;;
        --new_master_ssh_host=*) new_master_ssh_host=${a#*=} ;;
        --new_master_ssh_ip=*) ;;
        --new_master_ssh_port=*) new_master_ssh_port=${a#*=} ;;
        --*password=*) warn "ignoring an unknown argument ${a%%=*}=xxx" ;;
        *) warn "ignoring an unknown argument $a" ;;
        esac
    done
}

# --- On a host, over ssh ------------------------------------------------------
# vip_remote HOST SSH_PORT SSH_USER SNIPPET: runs SNIPPET with sh on HOST.
# Exit 255 is ssh's own (host unreachable, key refused).
vip_remote() {
    # Word splitting of VIP_SSH_OPTIONS is wanted (e.g. "-i /k -o X=y").
    # shellcheck disable=SC2086
    ssh -o BatchMode=yes -o ConnectTimeout="$VIP_SSH_TIMEOUT" $VIP_SSH_OPTIONS -p "$2" "$3@$1" \
        "PATH=\$PATH:/usr/sbin:/sbin; export PATH; $4" </dev/null
}

# The snippet that takes the VIP off the host's interface (nothing to do
# when it is not there).
snippet_del() {
    cat <<EOF
if ip -o $IPV addr show dev $VIP_INTERFACE | grep -q ' $VIP_IP/'; then
  $VIP_SUDO ip $IPV addr del $VIP_ADDRESS dev $VIP_INTERFACE && echo "  $VIP_ADDRESS removed from $VIP_INTERFACE"
else
  echo "  $VIP_ADDRESS was not on $VIP_INTERFACE"
fi
EOF
}

# The snippet that puts the VIP on the host's interface, then tells the
# segment's neighbours (gratuitous ARP for IPv4, unsolicited neighbour
# advertisement for IPv6) where it is now, when a tool for it is installed.
snippet_add() {
    cat <<EOF
set -e
if ip -o $IPV addr show dev $VIP_INTERFACE | grep -q ' $VIP_IP/'; then
  echo "  $VIP_ADDRESS already on $VIP_INTERFACE"
else
  $VIP_SUDO ip $IPV addr add $VIP_ADDRESS dev $VIP_INTERFACE
  echo "  $VIP_ADDRESS added to $VIP_INTERFACE"
fi
if [ $IPV = -6 ]; then
  if command -v ndisend >/dev/null 2>&1; then
    $VIP_SUDO ndisend $VIP_IP $VIP_INTERFACE >/dev/null && echo "  unsolicited neighbour advertisement sent (ndisend)"
  else
    echo "  NOTE: ndisend (ndisc6) is not installed: neighbours learn the move when their cache entries expire"
  fi
elif command -v arping >/dev/null 2>&1; then
  if $VIP_SUDO arping -q -U -c $VIP_ARP_COUNT -I $VIP_INTERFACE $VIP_IP >/dev/null 2>&1 \
     || $VIP_SUDO arping -q -A -c $VIP_ARP_COUNT -I $VIP_INTERFACE $VIP_IP >/dev/null 2>&1; then
    echo "  gratuitous ARP sent (arping)"
  else
    echo "  NOTE: arping failed: neighbours learn the move when their ARP entries expire"
  fi
else
  echo "  NOTE: arping (iputils-arping) is not installed: neighbours learn the move when their ARP entries expire"
fi
EOF
}

# vip_on HOST SSH_PORT SSH_USER / vip_off HOST SSH_PORT SSH_USER
vip_on() {
    say "Adding the VIP $VIP_ADDRESS on $1 ($VIP_INTERFACE)"
    vip_remote "$1" "$2" "$3" "$(snippet_add)"
}
vip_off() {
    say "Removing the VIP $VIP_ADDRESS from $1 ($VIP_INTERFACE)"
    vip_remote "$1" "$2" "$3" "$(snippet_del)"
}

# --- SQL ----------------------------------------------------------------------
# The password goes into a private option file (mode 0600, removed on exit),
# never onto a command line.
SQL_DIR=
cleanup_sql() { if [ -n "$SQL_DIR" ]; then rm -rf "$SQL_DIR"; fi; }
trap cleanup_sql EXIT
trap 'cleanup_sql; exit 1' HUP INT TERM

# An option-file value: backslash and double quote escaped, in quotes.
opt_quote() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }

# sql IP PORT USER PASSWORD SQL: runs SQL (several statements allowed),
# prints the rows tab-separated without headers.
sql() {
    if [ -z "$SQL_DIR" ]; then
        SQL_DIR=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/vip-hook.XXXXXX") || return 1
    fi
    case $4 in
    *'
'*) warn "a password with a newline cannot go into an option file"
        return 1 ;;
    esac
    f=$SQL_DIR/client.cnf
    (
        umask 077
        printf '[client]\nuser=%s\npassword=%s\n' "$(opt_quote "$3")" "$(opt_quote "$4")" >"$f"
    ) || return 1
    "$VIP_SQL_CLIENT" --defaults-extra-file="$f" --host="$1" --port="$2" --protocol=tcp \
        --connect-timeout="$VIP_SQL_TIMEOUT" --batch --skip-column-names --execute="$5"
}

# SQL string literal of a checked name (see check_settings).
sq() { printf "'%s'" "$1"; }

# The lock method: ACCOUNT LOCK where the server has it (MariaDB >= 10.4,
# MySQL >= 5.7.6), else renaming the account away as MHA's sample drops it.
lock_method() { # IP PORT USER PASSWORD
    if [ "$VIP_LOCK_METHOD" != auto ]; then
        echo "$VIP_LOCK_METHOD"
        return
    fi
    v=$(sql "$@" "SELECT VERSION()") || return 1
    major=$(echo "$v" | cut -d. -f1)
    minor=$(echo "$v" | cut -d. -f2)
    patch=$(echo "$v" | cut -d. -f3 | sed 's/[^0-9].*//')
    case $v in
    *MariaDB*) if [ "$major" -gt 10 ] || { [ "$major" -eq 10 ] && [ "$minor" -ge 4 ]; }; then echo lock; else echo rename; fi ;;
    *) if [ "$major" -gt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -gt 7 ]; } \
        || { [ "$major" -eq 5 ] && [ "$minor" -eq 7 ] && [ "${patch:-0}" -ge 6 ]; }; then echo lock; else echo rename; fi ;;
    esac
}

# The suffix of a renamed (locked) account: `app` becomes `app.mha-locked`.
LOCKED_SUFFIX=.mha-locked

# app_users_sql lock|unlock METHOD IP PORT USER PASSWORD: the statements
# that lock or unlock every account of each VIP_APP_USERS name (all its
# hosts), with binary logging off for the session as MHA's sample does: an
# account's lock belongs to its host and must not replicate.
app_users_sql() {
    what=$1
    method=$2
    shift 2
    stmts="SET SESSION sql_log_bin=0;"
    for u in $VIP_APP_USERS; do
        # Renamed accounts are unlocked by renaming them back.
        from=$u
        if [ "$what/$method" = unlock/rename ]; then from=$u$LOCKED_SUFFIX; fi
        hosts=$(sql "$@" "SELECT Host FROM mysql.user WHERE User=$(sq "$from")") || return 1
        if [ -z "$hosts" ]; then
            if [ "$from" = "$u" ]; then
                warn "no account named $u on this server"
            fi
            continue
        fi
        # Host names hold no quote or space (the servers refuse them in GRANT).
        for h in $hosts; do
            case $what/$method in
            lock/lock) stmts="$stmts ALTER USER $(sq "$u")@$(sq "$h") ACCOUNT LOCK;" ;;
            unlock/lock) stmts="$stmts ALTER USER $(sq "$u")@$(sq "$h") ACCOUNT UNLOCK;" ;;
            lock/rename) stmts="$stmts RENAME USER $(sq "$u")@$(sq "$h") TO $(sq "$u$LOCKED_SUFFIX")@$(sq "$h");" ;;
            unlock/rename) stmts="$stmts RENAME USER $(sq "$from")@$(sq "$h") TO $(sq "$u")@$(sq "$h");" ;;
            esac
        done
    done
    printf '%s' "$stmts"
}

# lock_app_users IP PORT USER PASSWORD
lock_app_users() {
    [ -n "$VIP_APP_USERS" ] || return 0
    m=$(lock_method "$@") || return 1
    say "Locking the application accounts ($VIP_APP_USERS) on $1:$2 (method: $m)"
    s=$(app_users_sql lock "$m" "$@") || return 1
    sql "$@" "$s"
}

# unlock_app_users IP PORT USER PASSWORD
unlock_app_users() {
    [ -n "$VIP_APP_USERS" ] || return 0
    m=$(lock_method "$@") || return 1
    say "Enabling the application accounts ($VIP_APP_USERS) on $1:$2 (method: $m)"
    s=$(app_users_sql unlock "$m" "$@") || return 1
    sql "$@" "$s"
}

# The application's connections on the server: "id" lines.
app_connections() { # IP PORT USER PASSWORD
    in=
    for u in $VIP_APP_USERS; do in="$in${in:+,}$(sq "$u"),$(sq "$u$LOCKED_SUFFIX")"; done
    sql "$@" "SELECT ID FROM information_schema.PROCESSLIST WHERE USER IN ($in) AND ID <> CONNECTION_ID()"
}

# kill_app_connections IP PORT USER PASSWORD: KILL every connection of the
# application accounts (a connection gone meanwhile is fine), then checks
# for 5 seconds that none is left (a locked account makes no new one).
# Every function here returns non-zero on a failure (the callers undo
# what they did: `set -e` does not apply inside `f || undo`).
kill_app_connections() {
    [ -n "$VIP_APP_USERS" ] || return 0
    ids=$(app_connections "$@") || return 1
    n=0
    for id in $ids; do
        if sql "$@" "KILL CONNECTION $id" 2>/dev/null; then n=$((n + 1)); fi
    done
    say "Killed $n application connection(s) on $1:$2"
    i=0
    while [ $i -lt 50 ]; do
        left=$(app_connections "$@") || return 1
        [ -n "$left" ] || return 0
        for id in $left; do sql "$@" "KILL CONNECTION $id" 2>/dev/null || true; done
        sleep 0.1
        i=$((i + 1))
    done
    warn "application connections still open on $1:$2 after 5 s: $(echo "$left" | tr '\n' ' ')"
    return 1
}

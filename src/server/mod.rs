//! Talking to a live server over the MySQL protocol (the `mysql` crate):
//! connection settings with a password that never comes from argv and is
//! never printed, and the replica status the planner needs. [`status`]
//! holds the SQL dialect (chosen by version) and the text of every
//! replication statement; a [`Server`] (connection + dialect + label) sends
//! them and reads every replication status.

pub mod embedded;
pub mod live;
// `server::server`: the file is named after the one thing it holds.
mod secret;
#[allow(clippy::module_inception)]
mod server;
pub mod status;

pub use secret::Secret;
pub use server::{MariaGtids, OpenTrx, PromotionFacts, RelayInfoStore, Server, Session};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::position::ReplicaState;

/// Every connection's first statement: our own `sql_mode`, so that the
/// server's (`NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES`, MariaDB's `ORACLE`, …)
/// cannot change how the statements we write parse: a password with `'`
/// or `\` in `CHANGE MASTER` is quoted as [`status::sql_str`] says. The
/// applier sets each event's own mode over it.
pub const SESSION_SQL_MODE: &str = "SET SESSION sql_mode=''";

/// Where and how to connect.
#[derive(Clone, Debug, Default)]
pub struct ConnSpec {
    /// Host (TCP).
    pub host: Option<String>,
    /// Port (TCP).
    pub port: Option<u16>,
    /// Unix socket, instead of host and port.
    pub socket: Option<PathBuf>,
    /// User.
    pub user: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// The MySQL timeout: bounds connecting and, on control connections
    /// ([`connect`](Self::connect)), every read and write; on every
    /// connection, TCP keepalive breaks the socket within about this long
    /// when the host dies or the link is cut ([`Keepalive`]). `None`: connect
    /// bounded by [`DEFAULT_TIMEOUT`], reads and writes not bounded (as
    /// before this field existed).
    pub timeout: Option<Duration>,
}

/// The MySQL timeout when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// TCP keepalive settings that find a dead peer within about `bound`:
/// probes start after a third of it idle, then every sixth of it, three
/// unanswered probes end the connection; and unacknowledged data ends it
/// after `bound` (`TCP_USER_TIMEOUT`, Linux). A live server's kernel
/// answers probes even while a statement runs for hours, so a long
/// statement is never cut by this; a frozen mysqld (SIGSTOP) is not found
/// this way either (its kernel still answers): that is the apply
/// watchdog's job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe, in milliseconds.
    pub time_ms: u32,
    /// Seconds between probes.
    pub interval_secs: u32,
    /// Unanswered probes that end the connection.
    pub probes: u32,
    /// Milliseconds data may stay unacknowledged.
    pub user_timeout_ms: u32,
}

impl Keepalive {
    /// The settings for `bound` (at least one second each step).
    pub fn within(bound: Duration) -> Keepalive {
        let ms = u32::try_from(bound.as_millis()).unwrap_or(u32::MAX).max(1000);
        Keepalive { time_ms: (ms / 3).max(1000), interval_secs: (ms / 6000).max(1), probes: 3, user_timeout_ms: ms }
    }

    fn apply(self, b: mysql::OptsBuilder) -> mysql::OptsBuilder {
        b.tcp_keepalive_time_ms(Some(self.time_ms))
            .tcp_keepalive_probe_interval_secs(Some(self.interval_secs))
            .tcp_keepalive_probe_count(Some(self.probes))
            .tcp_user_timeout_ms(Some(self.user_timeout_ms))
    }
}

impl ConnSpec {
    /// Fills the password from `MYSQL_PWD`, or from the `[client]` section
    /// of a defaults file, when not set.
    ///
    /// # Errors
    /// The defaults file cannot be read.
    pub fn with_password_from_env_or(mut self, defaults_file: Option<&Path>) -> Result<ConnSpec> {
        if self.password.is_none() {
            if let Some(f) = defaults_file {
                let d = read_defaults_file(f)?;
                self.password = d.password;
                self.user = self.user.or(d.user);
                self.host = self.host.or(d.host);
                self.port = self.port.or(d.port);
                self.socket = self.socket.or(d.socket);
            }
        }
        if self.password.is_none() {
            if let Ok(p) = std::env::var("MYSQL_PWD") {
                self.password = Some(Secret::new(p));
            }
        }
        Ok(self)
    }

    /// [`with_password_from_env_or`](Self::with_password_from_env_or), then,
    /// with `prompt` and still no password, asks for it on the terminal
    /// (echo off), as `mysql -p` does.
    ///
    /// # Errors
    /// The defaults file cannot be read, or the terminal cannot be read.
    pub fn with_password(self, defaults_file: Option<&Path>, prompt: bool) -> Result<ConnSpec> {
        let mut s = self.with_password_from_env_or(defaults_file)?;
        if prompt && s.password.is_none() {
            let p = rpassword::prompt_password("Enter password: ").map_err(|e| {
                Error::config(Some("--ask-password"), format!("cannot read the password from the terminal: {e}"))
            })?;
            s.password = Some(Secret::new(p));
        }
        Ok(s)
    }

    /// A label for messages: `host:port` or the socket path.
    pub fn label(&self) -> String {
        match (&self.socket, &self.host) {
            (Some(s), _) => s.display().to_string(),
            (None, h) => format!("{}:{}", h.as_deref().unwrap_or("localhost"), self.port.unwrap_or(3306)),
        }
    }

    /// The MySQL timeout in effect ([`timeout`](Self::timeout) or [`DEFAULT_TIMEOUT`]).
    pub fn bound(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// Opens a control connection: connect bounded by the MySQL timeout
    /// (30 s by default), and with [`timeout`](Self::timeout) set every read
    /// and write too; TCP keepalive within that bound.
    ///
    /// # Errors
    /// The server cannot be reached or refuses the login.
    pub fn connect(&self) -> Result<mysql::Conn> {
        let b = mysql::OptsBuilder::new().tcp_connect_timeout(Some(self.bound()));
        let b = match self.timeout {
            Some(t) => b.read_timeout(Some(t)).write_timeout(Some(t)),
            None => b,
        };
        self.connect_with(Keepalive::within(self.bound()).apply(b))
    }

    /// Opens a connection for statements that may run longer than the
    /// MySQL timeout (an apply: a big DDL in a diff): connecting and the
    /// login are bounded by it, writes too, and TCP keepalive works within
    /// it, but reads are not bounded once logged in, so the caller must watch
    /// the connection itself (the applier does: its watchdog probes the
    /// server on another connection and cuts this one when the server stops
    /// answering).
    ///
    /// # Errors
    /// The server cannot be reached in time or refuses the login.
    pub fn connect_apply(&self) -> Result<mysql::Conn> {
        let t = self.bound();
        let b = mysql::OptsBuilder::new().tcp_connect_timeout(Some(t)).read_timeout(Some(t)).write_timeout(Some(t));
        let conn = self.connect_with(Keepalive::within(t).apply(b))?;
        unbound_reads(&conn)
            .map_err(|e| Error::new(crate::error::ErrorKind::Connect(format!("{}: setting up: {e}", self.label()))))?;
        Ok(conn)
    }

    /// Opens a control connection whose connect, reads and writes are each
    /// bounded by `timeout`: a dead or cut-off server is an error within
    /// that time, never a hang.
    ///
    /// # Errors
    /// The server cannot be reached in time or refuses the login.
    pub fn connect_within(&self, timeout: Duration) -> Result<mysql::Conn> {
        self.connect_with(
            Keepalive::within(timeout).apply(
                mysql::OptsBuilder::new()
                    .tcp_connect_timeout(Some(timeout))
                    .read_timeout(Some(timeout))
                    .write_timeout(Some(timeout)),
            ),
        )
    }

    /// Whether a server answers at all: a login it refuses (access denied,
    /// host not allowed, too many connections) is an answer, from a live
    /// server. For telling a dead master from one we merely cannot use.
    pub fn probe(&self, timeout: Duration) -> Probe {
        let b = mysql::OptsBuilder::new()
            .tcp_connect_timeout(Some(timeout))
            .read_timeout(Some(timeout))
            .write_timeout(Some(timeout))
            .user(self.user.clone())
            .pass(self.password.as_ref().map(|p| p.expose().to_string()))
            .prefer_socket(false)
            .ip_or_hostname(Some(self.host.clone().unwrap_or_else(|| "127.0.0.1".into())))
            .tcp_port(self.port.unwrap_or(3306));
        match mysql::Conn::new(b) {
            Ok(_) => Probe::Answers(String::new()),
            Err(mysql::Error::MySqlError(e)) => Probe::Answers(format!("it refused our login: {e}")),
            Err(e) => Probe::Silent(format!("{}: {e}", self.label())),
        }
    }

    fn connect_with(&self, b: mysql::OptsBuilder) -> Result<mysql::Conn> {
        let mut b = b
            .user(self.user.clone())
            .pass(self.password.as_ref().map(|p| p.expose().to_string()))
            .prefer_socket(false)
            .init(vec![SESSION_SQL_MODE.to_string()]);
        b = match &self.socket {
            Some(s) => b.socket(Some(s.display().to_string())),
            None => b
                .ip_or_hostname(Some(self.host.clone().unwrap_or_else(|| "127.0.0.1".into())))
                .tcp_port(self.port.unwrap_or(3306)),
        };
        mysql::Conn::new(b)
            .map_err(|e| Error::new(crate::error::ErrorKind::Connect(format!("{}: cannot connect: {e}", self.label()))))
    }
}

/// What a [`ConnSpec::probe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The server answered (a login, or a refusal of it: why).
    Answers(String),
    /// Nothing answered (refused TCP, a timeout, a reset): why.
    Silent(String),
}

/// Clears the receive timeout of a connection's socket (through a
/// duplicate of its descriptor: the same socket).
fn unbound_reads(conn: &mysql::Conn) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the connection is open during this call, so its descriptor is valid.
    let fd = unsafe { BorrowedFd::borrow_raw(conn.as_raw_fd()) }.try_clone_to_owned()?;
    // SO_RCVTIMEO is a socket option of TCP and Unix sockets alike.
    std::net::TcpStream::from(fd).set_read_timeout(None)
}

/// Reads `[client]` settings from a MySQL defaults file.
///
/// # Errors
/// The file cannot be read.
pub fn read_defaults_file(path: &Path) -> Result<ConnSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut spec = ConnSpec::default();
    let mut in_client = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_client = matches!(l, "[client]" | "[mysql]" | "[mariadb-client]" | "[client-server]");
            continue;
        }
        if !in_client || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else { continue };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim().replace('_', "-").as_str() {
            "password" => spec.password = Some(Secret::new(v)),
            "user" => spec.user = Some(v),
            "host" => spec.host = Some(v),
            "port" => spec.port = v.parse().ok(),
            "socket" => spec.socket = Some(PathBuf::from(v)),
            _ => {}
        }
    }
    Ok(spec)
}

/// Reads a replica's state from a live server (`SHOW SLAVE STATUS`, or
/// `SHOW REPLICA STATUS` where the server has no `SLAVE` form), with its
/// relay-log folder and server id ([`Server::replica_state`]).
///
/// # Errors
/// The query fails or the server is not a replica.
pub fn replica_state(conn: &mut mysql::Conn, label: &str) -> Result<ReplicaState> {
    Server::over(conn, label).replica_state()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_within_the_bound() {
        let k = Keepalive::within(Duration::from_secs(30));
        assert_eq!(k, Keepalive { time_ms: 10_000, interval_secs: 5, probes: 3, user_timeout_ms: 30_000 });
        // First probe + 3 intervals: a dead peer is found within the bound.
        assert!(u64::from(k.time_ms) + 3_000 * u64::from(k.interval_secs) <= 30_000);
        let k = Keepalive::within(Duration::from_secs(3));
        assert_eq!(k, Keepalive { time_ms: 1000, interval_secs: 1, probes: 3, user_timeout_ms: 3000 });
        // Below a second: a second (the kernel's granularity for probes).
        let k = Keepalive::within(Duration::from_millis(10));
        assert_eq!((k.time_ms, k.interval_secs, k.user_timeout_ms), (1000, 1, 1000));
    }

    #[test]
    fn bound_defaults_to_thirty_seconds() {
        let mut s = ConnSpec::default();
        assert_eq!(s.bound(), Duration::from_secs(30));
        s.timeout = Some(Duration::from_secs(3));
        assert_eq!(s.bound(), Duration::from_secs(3));
    }
}

//! Talking to a live server over the MySQL protocol (the `mysql` crate):
//! connection settings with a password that never comes from argv and is
//! never printed, and the replica status the planner needs. [`status`]
//! holds the SQL dialect (chosen by version) and every replication
//! statement the driver sends.

pub mod embedded;
pub mod status;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql::prelude::Queryable;

use crate::error::{Error, Result};
use crate::position::ReplicaState;

/// A password. `Debug` and `Display` never show it.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The password itself, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

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
            let p = rpassword::prompt_password("Enter password: ")
                .map_err(|e| Error::invalid(format!("cannot read the password from the terminal: {e}")))?;
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

    /// Opens a connection (TCP connect bounded by 30 s).
    ///
    /// # Errors
    /// The server cannot be reached or refuses the login.
    pub fn connect(&self) -> Result<mysql::Conn> {
        self.connect_with(mysql::OptsBuilder::new().tcp_connect_timeout(Some(Duration::from_secs(30))))
    }

    /// Opens a control connection whose connect, reads and writes are each
    /// bounded by `timeout`: a dead or cut-off server is an error within
    /// that time, never a hang.
    ///
    /// # Errors
    /// The server cannot be reached in time or refuses the login.
    pub fn connect_within(&self, timeout: Duration) -> Result<mysql::Conn> {
        self.connect_with(
            mysql::OptsBuilder::new()
                .tcp_connect_timeout(Some(timeout))
                .read_timeout(Some(timeout))
                .write_timeout(Some(timeout)),
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
        let mut b =
            b.user(self.user.clone()).pass(self.password.as_ref().map(|p| p.expose().to_string())).prefer_socket(false);
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
/// relay-log folder and server id.
///
/// # Errors
/// The query fails or the server is not a replica.
pub fn replica_state(conn: &mut mysql::Conn, label: &str) -> Result<ReplicaState> {
    let qerr = |e: mysql::Error| Error::invalid(format!("{label}: {e}"));
    let d = status::Dialect::of(conn)?;
    let row = status::replica_status(conn, d)?
        .ok_or_else(|| Error::invalid(format!("{label}: not a replica (no replica status)")))?;
    let mut st = ReplicaState::from_status(label, |k| row.opt(k))?;
    let (relay_log, relay_index, datadir, server_id): (Option<String>, Option<String>, Option<String>, Option<u32>) =
        conn.query_first("SELECT @@relay_log, @@relay_log_index, @@datadir, @@server_id")
            .map_err(qerr)?
            .unwrap_or((None, None, None, None));
    st.server_id = server_id;
    let datadir = datadir.map(PathBuf::from);
    let from_setting = |s: Option<String>| -> Option<PathBuf> {
        let p = PathBuf::from(s?);
        let p = if p.is_absolute() { p } else { datadir.as_ref()?.join(p) };
        p.parent().map(Path::to_path_buf)
    };
    st.relay_dir = from_setting(relay_log).or_else(|| from_setting(relay_index)).or(datadir);
    // MariaDB keeps gtid_slave_pos (what its SQL thread applied) in every mode.
    if st.gtid_executed.is_none() && d == status::Dialect::MariaDb {
        st.gtid_executed = Some(status::gtid_slave_pos(conn)?).filter(|g| !g.is_empty());
    }
    Ok(st)
}

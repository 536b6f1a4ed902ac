//! The library error: what went wrong, and where (file, byte offset, event type).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::event::{EventType, ParseError, ParseErrorKind};

/// Where an error happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// What the error concerns beyond a file, printed first: the replica,
    /// the target or the worker one of several failed for (`c: …`).
    pub subject: Option<String>,
    /// File, when the error concerns one.
    pub file: Option<PathBuf>,
    /// Byte offset in that file.
    pub offset: Option<u64>,
    /// Event type at that offset, when the header was readable.
    pub event_type: Option<EventType>,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing a file failed.
    Io(std::io::Error),
    /// The bytes are not a valid binlog.
    Parse(ParseErrorKind),
    /// The file ends inside an event and the policy does not allow it.
    Truncated {
        /// Bytes present from the event's start.
        available: u64,
        /// Bytes the event needs.
        needed: u64,
    },
    /// Free text, for what no caller or user branches on: an internal
    /// impossibility, a thread that panicked, our own struct that does not
    /// serialize. Anything a caller or user could act on has a kind of its
    /// own below.
    Invalid(String),
    /// A server or host could not be reached (a MySQL connection failed, an
    /// ssh connection or handshake failed): a caller may try another way there.
    Connect(String),
    /// The master does not answer here but the replicas still replicate
    /// from it (UnreachableMaster): nothing was changed; a watcher goes on.
    NotDead(String),
    /// A run refused before it changed anything (a check failed, another
    /// run holds the cluster, the topology is not what the run needs): what
    /// it says is the fix.
    Refused(String),
    /// A failover stopped after it had begun changing servers: its
    /// in-progress record is left, and `--resume` continues it.
    Unfinished(String),
    /// A wait on a server passed its bound (the server stopped answering
    /// within the MySQL timeout, or a deadline passed): its connections
    /// were cut rather than waited on.
    Timeout {
        /// The server (`host:port`).
        host: String,
        /// What was being done (for an apply: the transaction, and where it
        /// stopped).
        step: String,
        /// Which bound passed, and how that was found.
        why: String,
    },
    /// Stopped on request (SIGINT, SIGTERM) at a clean point: what ran was
    /// rolled back or committed, and the resume state says which.
    Interrupted(String),
    /// A setting the user gave is wrong or missing: a key of a configuration
    /// file (the file is in the [`Location`]), an option or its value
    /// (`--threads`, `--state-file`, a datadir that is not one), or options
    /// that leave nothing to do.
    Config {
        /// The key or option, when one is to blame.
        key: Option<String>,
        /// What is wrong, and the fix.
        why: String,
    },
    /// A server failed or refused a statement (replication control, a
    /// status read), or is not in the state a step needs (not a replica,
    /// binary logging off, replication running, the SQL thread stopped on an
    /// error), or a throwaway server of ours did not start. A program of the
    /// MariaDB packages we run (`mariadb`, `mariadb-binlog`,
    /// `mariadb-install-db`) that fails is a failure of the server it worked
    /// on, naming the program and what it said (over ssh: [`ErrorKind::Remote`]).
    Server {
        /// The server (its name as app.cnf has it, or `host:port`).
        server: String,
        /// The statement or step, and the server's answer.
        what: String,
    },
    /// A hook script failed.
    Hook {
        /// The script.
        script: String,
        /// Its exit code (`None`: it was killed, or could not run).
        code: Option<i32>,
        /// Its output, or why it did not finish.
        why: String,
    },
    /// A step on a remote host failed: the command's exit, the ssh channel
    /// or session, our binary there (its version, its node protocol, its
    /// reply). The connection itself failing is a [`ErrorKind::Connect`].
    Remote {
        /// The host (`user@host:port`).
        host: String,
        /// The step.
        step: String,
        /// What happened.
        why: String,
    },
    /// A value read from an input is not one (a position, a log name, a GTID
    /// set, a relay-log.info / master.info / index line, a JSON document, a
    /// plan, a resume state), or an input is not one the step can use (a
    /// diff start inside a transaction). Damaged binlog bytes are
    /// [`ErrorKind::Parse`] instead.
    BadInput {
        /// What it was meant to be, and the value.
        what: String,
        /// Why it is not.
        why: String,
    },
}

/// A library error: kind plus location. Boxed so `Result<T>` stays small.
pub struct Error(Box<(ErrorKind, Location)>);

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error without location.
    pub fn new(kind: ErrorKind) -> Self {
        Error(Box::new((kind, Location::default())))
    }
    /// A refusal before anything changed ([`ErrorKind::Refused`]): the
    /// applier's "already applied", "in doubt" and its other refusals to go
    /// on, where what it says is the fix.
    pub fn refused(msg: impl Into<String>) -> Self {
        Error::new(ErrorKind::Refused(msg.into()))
    }
    /// A wrong setting ([`ErrorKind::Config`]).
    pub fn config(key: Option<&str>, why: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config { key: key.map(str::to_string), why: why.into() })
    }
    /// A server's failure ([`ErrorKind::Server`]).
    pub fn server(server: impl Into<String>, what: impl Into<String>) -> Self {
        Error::new(ErrorKind::Server { server: server.into(), what: what.into() })
    }
    /// A failed step on a remote host ([`ErrorKind::Remote`]).
    pub fn remote(host: impl Into<String>, step: impl Into<String>, why: impl Into<String>) -> Self {
        Error::new(ErrorKind::Remote { host: host.into(), step: step.into(), why: why.into() })
    }
    /// A value that is not one ([`ErrorKind::BadInput`]).
    pub fn bad_input(what: impl Into<String>, why: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadInput { what: what.into(), why: why.into() })
    }
    /// A bound that passed ([`ErrorKind::Timeout`]).
    pub fn timeout(host: impl Into<String>, step: impl Into<String>, why: impl Into<String>) -> Self {
        Error::new(ErrorKind::Timeout { host: host.into(), step: step.into(), why: why.into() })
    }
    /// An `Invalid` error with a message: only for what no caller or user
    /// branches on (an internal impossibility, a thread that panicked).
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid(msg.into()))
    }
    /// An I/O error on a file.
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io(e)).with_file(path)
    }
    /// A parse error in a file.
    pub fn parse(path: Option<&Path>, e: ParseError) -> Self {
        let mut err = Error::new(ErrorKind::Parse(e.kind));
        err.0.1 =
            Location { subject: None, file: path.map(Path::to_path_buf), offset: Some(e.at), event_type: e.event_type };
        err
    }
    /// Names what the error concerns (`who: …`: the replica, target or
    /// worker one of several failed for), its kind kept so that callers
    /// still branch on it. A subject already there stays inside the new one
    /// (`who: inner: …`).
    pub fn with_subject(mut self, who: impl Into<String>) -> Self {
        let who = who.into();
        self.0.1.subject = Some(match self.0.1.subject.take() {
            Some(inner) => format!("{who}: {inner}"),
            None => who,
        });
        self
    }
    /// Attaches a file name.
    pub fn with_file(mut self, path: &Path) -> Self {
        self.0.1.file = Some(path.to_path_buf());
        self
    }
    /// Attaches an offset and optional event type.
    pub fn at(mut self, offset: u64, event_type: Option<EventType>) -> Self {
        self.0.1.offset = Some(offset);
        self.0.1.event_type = event_type;
        self
    }
    /// Puts the error at `loc` (another error's location).
    pub(crate) fn with_location(mut self, loc: Location) -> Self {
        self.0.1 = loc;
        self
    }
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.0
    }
    /// Where.
    pub fn location(&self) -> &Location {
        &self.0.1
    }
    /// Whether the input itself is damaged (not a binlog, corrupt, cut
    /// short), as against a file that cannot be read or a bad request: what
    /// the inspection commands exit 1 for, and `verify --json` calls `damaged`.
    pub fn is_damage(&self) -> bool {
        matches!(self.0.0, ErrorKind::Parse(_) | ErrorKind::Truncated { .. })
    }
    /// The same error again, for reporting one failure to several callers
    /// (an I/O error keeps its OS code, or else its kind and message).
    pub(crate) fn duplicate(&self) -> Error {
        let kind = match &self.0.0 {
            ErrorKind::Io(e) => ErrorKind::Io(match e.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(e.kind(), e.to_string()),
            }),
            ErrorKind::Parse(k) => ErrorKind::Parse(*k),
            ErrorKind::Truncated { available, needed } => {
                ErrorKind::Truncated { available: *available, needed: *needed }
            }
            ErrorKind::Invalid(m) => ErrorKind::Invalid(m.clone()),
            ErrorKind::Connect(m) => ErrorKind::Connect(m.clone()),
            ErrorKind::NotDead(m) => ErrorKind::NotDead(m.clone()),
            ErrorKind::Refused(m) => ErrorKind::Refused(m.clone()),
            ErrorKind::Unfinished(m) => ErrorKind::Unfinished(m.clone()),
            ErrorKind::Timeout { host, step, why } => {
                ErrorKind::Timeout { host: host.clone(), step: step.clone(), why: why.clone() }
            }
            ErrorKind::Interrupted(m) => ErrorKind::Interrupted(m.clone()),
            ErrorKind::Config { key, why } => ErrorKind::Config { key: key.clone(), why: why.clone() },
            ErrorKind::Server { server, what } => ErrorKind::Server { server: server.clone(), what: what.clone() },
            ErrorKind::Hook { script, code, why } => {
                ErrorKind::Hook { script: script.clone(), code: *code, why: why.clone() }
            }
            ErrorKind::Remote { host, step, why } => {
                ErrorKind::Remote { host: host.clone(), step: step.clone(), why: why.clone() }
            }
            ErrorKind::BadInput { what, why } => ErrorKind::BadInput { what: what.clone(), why: why.clone() },
        };
        Error(Box::new((kind, self.0.1.clone())))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::Parse(k) => write!(f, "{k}"),
            ErrorKind::Truncated { available, needed } => {
                write!(f, "truncated event: {available} of {needed} bytes present")
            }
            ErrorKind::Invalid(m)
            | ErrorKind::Connect(m)
            | ErrorKind::NotDead(m)
            | ErrorKind::Refused(m)
            | ErrorKind::Unfinished(m)
            | ErrorKind::Interrupted(m) => f.write_str(m),
            ErrorKind::Timeout { host, step, why } if host.is_empty() => write!(f, "{step}: {why}"),
            ErrorKind::Timeout { host, step, why } => write!(f, "{host}: {why}; stopped {step}"),
            ErrorKind::Config { key: Some(k), why } => write!(f, "{k}: {why}"),
            ErrorKind::Config { key: None, why } => f.write_str(why),
            ErrorKind::Server { server, what } if server.is_empty() => f.write_str(what),
            ErrorKind::Server { server, what } => write!(f, "{server}: {what}"),
            ErrorKind::Hook { script, code: Some(c), why } => write!(f, "{script}: exit {c}: {why}"),
            ErrorKind::Hook { script, code: None, why } => write!(f, "{script}: {why}"),
            ErrorKind::Remote { host, step, why } => write!(f, "{step} on {host}: {why}"),
            ErrorKind::BadInput { what, why } => write!(f, "{what}: {why}"),
        }
    }
}

impl fmt::Display for Error {
    /// `subject: file @ offset (TYPE): message`, with any password this
    /// process knows replaced by `<secret>` (a server's message may quote
    /// one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.unredacted();
        f.write_str(&crate::secret::redact(&text))
    }
}

impl Error {
    /// The text of [`Display`](fmt::Display) before redaction.
    fn unredacted(&self) -> String {
        use std::fmt::Write;
        let mut f = String::new();
        let (kind, loc) = &*self.0;
        if let Some(s) = &loc.subject {
            let _ = write!(f, "{s}: ");
        }
        let mut sep = "";
        if let Some(p) = &loc.file {
            let _ = write!(f, "{}", p.display());
            sep = " ";
        }
        if let Some(o) = loc.offset {
            let _ = write!(f, "{sep}@ {o}");
            sep = " ";
        }
        if let Some(t) = loc.event_type {
            let _ = write!(f, "{sep}({t})");
            sep = " ";
        }
        if !sep.is_empty() {
            f.push_str(": ");
        }
        let _ = write!(f, "{kind}");
        f
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.0 {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind prints its fields as the callers' messages read; a subject
    /// comes first and keeps the kind.
    #[test]
    fn kinds_print_their_fields() {
        let p = Path::new("relay-bin.000002");
        assert_eq!(Error::config(Some("--threads"), "bad value \"0\"").to_string(), "--threads: bad value \"0\"");
        assert_eq!(Error::config(None, "no replicas").to_string(), "no replicas");
        assert_eq!(Error::server("h:3306", "server_id is 2").to_string(), "h:3306: server_id is 2");
        assert_eq!(Error::remote("u@h:22", "fetch f", "exit 1").to_string(), "fetch f on u@h:22: exit 1");
        assert_eq!(Error::timeout("", "hook x", "did not finish").to_string(), "hook x: did not finish");
        assert_eq!(
            Error::timeout("h:1", "at GTID 0-1-7", "deadline").to_string(),
            "h:1: deadline; stopped at GTID 0-1-7"
        );
        let e =
            Error::bad_input("diff start", "position 1301 is not the start of an event").with_file(p).at(1342, None);
        assert_eq!(e.to_string(), "relay-bin.000002 @ 1342: diff start: position 1301 is not the start of an event");
        let named = e.with_subject("r2");
        assert_eq!(
            named.to_string(),
            "r2: relay-bin.000002 @ 1342: diff start: position 1301 is not the start of an event"
        );
        assert!(matches!(named.kind(), ErrorKind::BadInput { .. }), "the kind is kept");
        let twice = Error::server("h", "x").with_subject("worker 2").with_subject("r2");
        assert_eq!(twice.to_string(), "r2: worker 2: h: x");
        assert_eq!(twice.duplicate().to_string(), twice.to_string());
    }
}

//! What a topology is made of: [`TopologyConfig`] (replicas, binlog format
//! and checksums, file sizes, GTID or positions, extra server options,
//! netns hosts) and the environment variables that override it for
//! `scripts/topology.sh`.

use std::path::PathBuf;
use std::time::Duration;

use super::super::netns;
use super::{WAIT_TIMEOUT, env_flag};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinlogFormat {
    Row,
    Statement,
    Mixed,
}

impl BinlogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BinlogFormat::Row => "ROW",
            BinlogFormat::Statement => "STATEMENT",
            BinlogFormat::Mixed => "MIXED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ROW" => Some(BinlogFormat::Row),
            "STATEMENT" | "STMT" => Some(BinlogFormat::Statement),
            "MIXED" => Some(BinlogFormat::Mixed),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinlogChecksum {
    Crc32,
    None,
}

impl BinlogChecksum {
    pub fn as_str(self) -> &'static str {
        match self {
            BinlogChecksum::Crc32 => "CRC32",
            BinlogChecksum::None => "NONE",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "CRC32" => Some(BinlogChecksum::Crc32),
            "NONE" => Some(BinlogChecksum::None),
            _ => None,
        }
    }
}

/// What to start.  `..Default::default()` gives 1 master + 2 replicas, ROW,
/// CRC32, 1 MiB binlogs, relay logs sized like binlogs, classic positions.
#[derive(Clone, Debug)]
pub struct TopologyConfig {
    /// Number of replicas (0 is allowed: a lone master).
    pub replicas: usize,
    pub binlog_format: BinlogFormat,
    /// Applies to every server (master and replicas' own binlogs).
    pub binlog_checksum: BinlogChecksum,
    /// Bytes, >= 4096 (server minimum).  A transaction is never split, so a
    /// file can be larger.
    pub max_binlog_size: u64,
    /// Bytes; 0 (default) = use `max_binlog_size` (server semantics), else >= 4096.
    pub max_relay_log_size: u64,
    /// false (default): `MASTER_USE_GTID=no` with MASTER_LOG_FILE/POS from the
    /// master's SHOW MASTER STATUS; true: `MASTER_USE_GTID=slave_pos`.
    pub use_gtid: bool,
    /// Extra `--option=value` for every server, appended last (they win).
    pub extra_options: Vec<String>,
    /// Extra options for the master only (after `extra_options`).
    pub master_options: Vec<String>,
    /// Extra options for every replica only (after `extra_options`).
    pub replica_options: Vec<String>,
    /// Extra options for one server (its index), after all the others.
    pub server_options: Vec<(usize, String)>,
    /// Run CHANGE MASTER TO + START SLAVE on the replicas (default true).
    pub start_replication: bool,
    /// Bound for each server to accept connections.
    pub ready_timeout: Duration,
    /// Run every server as its own "host": own network namespace and
    /// address in 192.0.2.0/24, mariadbd on `<ip>:3306`, an sshd on
    /// `<ip>:22` (see "Netns topologies" in the module doc).  Needs root.
    /// Default false (127.0.0.1, random ports, no sshd).
    pub netns: bool,
    /// netns only: directories put before the system dirs in the `PATH` of
    /// ssh sessions on every host (e.g. where the node tools are).  (sshd's
    /// `SetEnv PATH=`; root's `~/.bashrc`, which bash reads for ssh
    /// commands, may still put its own dirs in front.)
    pub ssh_path: Vec<PathBuf>,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            replicas: 2,
            binlog_format: BinlogFormat::Row,
            binlog_checksum: BinlogChecksum::Crc32,
            max_binlog_size: 1 << 20,
            max_relay_log_size: 0,
            use_gtid: false,
            extra_options: Vec::new(),
            master_options: Vec::new(),
            replica_options: Vec::new(),
            server_options: Vec::new(),
            start_replication: true,
            ready_timeout: WAIT_TIMEOUT,
            netns: false,
            ssh_path: Vec::new(),
        }
    }
}

impl TopologyConfig {
    pub fn with_replicas(replicas: usize) -> Self {
        TopologyConfig { replicas, ..Default::default() }
    }

    /// Defaults overridden by `BINLOG_DIFF_REPLICAS`, `BINLOG_DIFF_BINLOG_FORMAT`
    /// (ROW/STATEMENT/MIXED), `BINLOG_DIFF_BINLOG_CHECKSUM` (CRC32/NONE),
    /// `BINLOG_DIFF_MAX_BINLOG_SIZE`, `BINLOG_DIFF_MAX_RELAY_LOG_SIZE` (bytes),
    /// `BINLOG_DIFF_GTID=1`, `BINLOG_DIFF_NETNS=1`.  Panics on unparsable values.
    pub fn from_env() -> Self {
        let mut c = TopologyConfig::default();
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("BINLOG_DIFF_REPLICAS") {
            c.replicas = v.parse().expect("BINLOG_DIFF_REPLICAS");
        }
        if let Some(v) = var("BINLOG_DIFF_BINLOG_FORMAT") {
            c.binlog_format = BinlogFormat::parse(&v).expect("BINLOG_DIFF_BINLOG_FORMAT: ROW|STATEMENT|MIXED");
        }
        if let Some(v) = var("BINLOG_DIFF_BINLOG_CHECKSUM") {
            c.binlog_checksum = BinlogChecksum::parse(&v).expect("BINLOG_DIFF_BINLOG_CHECKSUM: CRC32|NONE");
        }
        if let Some(v) = var("BINLOG_DIFF_MAX_BINLOG_SIZE") {
            c.max_binlog_size = v.parse().expect("BINLOG_DIFF_MAX_BINLOG_SIZE");
        }
        if let Some(v) = var("BINLOG_DIFF_MAX_RELAY_LOG_SIZE") {
            c.max_relay_log_size = v.parse().expect("BINLOG_DIFF_MAX_RELAY_LOG_SIZE");
        }
        c.use_gtid = env_flag("BINLOG_DIFF_GTID");
        c.netns = env_flag("BINLOG_DIFF_NETNS");
        c
    }

    pub(super) fn validate(&self) {
        assert!(
            (4096..=1 << 30).contains(&self.max_binlog_size),
            "max_binlog_size must be in 4096..=1GiB, got {}",
            self.max_binlog_size
        );
        assert!(
            self.max_relay_log_size == 0 || (4096..=1 << 30).contains(&self.max_relay_log_size),
            "max_relay_log_size must be 0 or in 4096..=1GiB, got {}",
            self.max_relay_log_size
        );
        assert!(self.replicas <= 32, "{} replicas? be reasonable", self.replicas);
        assert!(
            !self.netns || self.replicas < netns::MAX_HOSTS,
            "a netns topology has at most {} replicas (one /27 slice), not {}",
            netns::MAX_HOSTS - 1,
            self.replicas
        );
    }
}

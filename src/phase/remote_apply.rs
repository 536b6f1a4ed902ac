//! What the latest replica's host says after `apply --plan - --json`: per
//! replica, applied (with its last GTIDs), unreachable from there (its diff
//! then comes here), or failed.

use serde_json::{Value, json};

use crate::error::Result;

/// Per replica (by name), what the remote `apply --plan` did.
pub(super) type RemoteApplied = std::collections::HashMap<String, std::result::Result<RemoteDone, RemoteErr>>;

/// A relay diff applied from the latest replica's host.
#[derive(Clone, Debug)]
pub(super) struct RemoteDone {
    pub line: String,
    pub last_gtids: Vec<String>,
}

#[derive(Clone, Debug)]
pub(super) enum RemoteErr {
    /// That host cannot reach the target's MySQL: the diff comes here instead.
    CannotConnect(String),
    Failed(String),
}

/// What happened to `name`'s diff (the whole run's failure when it has no entry).
pub(super) fn remote_result(m: &RemoteApplied, name: &str) -> std::result::Result<RemoteDone, RemoteErr> {
    match m.get(name).or_else(|| m.get("")) {
        Some(r) => r.clone(),
        None => Err(RemoteErr::Failed("no result for it in the report".into())),
    }
}

/// Reads the JSON of `apply --plan - --json` run on the latest replica's host.
pub(super) fn read(out: Result<crate::remote::Output>, secs: f64) -> RemoteApplied {
    let mut m = RemoteApplied::new();
    let o = match out {
        Ok(o) => o,
        Err(e) => {
            m.insert(String::new(), Err(RemoteErr::Failed(e.to_string())));
            return m;
        }
    };
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(o.stdout.trim()) else {
        let lines: Vec<&str> =
            o.stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("progress\t")).collect();
        let why = lines.iter().find(|l| l.starts_with("error") || l.contains("binlog-diff:")).or(lines.last());
        let why = why.copied().unwrap_or("no report").to_string();
        m.insert(String::new(), Err(RemoteErr::Failed(format!("exit {}: {why}", o.status))));
        return m;
    };
    for t in list {
        let name = t["name"].as_str().unwrap_or("").to_string();
        let rep = &t["report"];
        let r = if t["ok"] == json!(true) {
            let skipped = rep["skipped"].as_u64().unwrap_or(0);
            Ok(RemoteDone {
                line: format!(
                    "applied {} transactions ({} events){} from the latest replica's host in {secs:.2}s",
                    rep["transactions"].as_u64().unwrap_or(0),
                    rep["events"].as_u64().unwrap_or(0),
                    if skipped > 0 { format!(", skipped {skipped} it already had") } else { String::new() },
                ),
                last_gtids: rep["last_gtids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            })
        } else {
            let e = t["error"].as_str().unwrap_or("failed").to_string();
            if t["error_kind"] == json!("connect") {
                Err(RemoteErr::CannotConnect(e))
            } else {
                Err(RemoteErr::Failed(e))
            }
        };
        m.insert(name, r);
    }
    m
}

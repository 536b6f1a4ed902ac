//! The replica status columns MySQL 8.0.22 renamed (`SHOW REPLICA STATUS`:
//! `Master_*` → `Source_*`, `Slave_*` → `Replica_*`): one table of the
//! pairs, read by [`ReplicaState::from_status`](super::ReplicaState::from_status)
//! and by the server layer's status rows alike. MariaDB and MySQL before
//! 8.0.22 use the old names only; MySQL 8.4 the new ones only.

/// `(old, new)` names of every renamed column, as the servers spell them
/// (MySQL 8.0 reference manual, `SHOW REPLICA STATUS`). Columns not listed
/// have one name (`Relay_Log_File`, `Last_SQL_Errno`, `Executed_Gtid_Set`,
/// MariaDB's `Using_Gtid` and `Gtid_Slave_Pos`, …).
pub const RENAMED_STATUS_COLUMNS: &[(&str, &str)] = &[
    ("Slave_IO_State", "Replica_IO_State"),
    ("Master_Host", "Source_Host"),
    ("Master_User", "Source_User"),
    ("Master_Port", "Source_Port"),
    ("Master_Log_File", "Source_Log_File"),
    ("Read_Master_Log_Pos", "Read_Source_Log_Pos"),
    ("Relay_Master_Log_File", "Relay_Source_Log_File"),
    ("Slave_IO_Running", "Replica_IO_Running"),
    ("Slave_SQL_Running", "Replica_SQL_Running"),
    ("Exec_Master_Log_Pos", "Exec_Source_Log_Pos"),
    ("Master_SSL_Allowed", "Source_SSL_Allowed"),
    ("Master_SSL_CA_File", "Source_SSL_CA_File"),
    ("Master_SSL_CA_Path", "Source_SSL_CA_Path"),
    ("Master_SSL_Cert", "Source_SSL_Cert"),
    ("Master_SSL_Cipher", "Source_SSL_Cipher"),
    ("Master_SSL_Key", "Source_SSL_Key"),
    ("Seconds_Behind_Master", "Seconds_Behind_Source"),
    ("Master_SSL_Verify_Server_Cert", "Source_SSL_Verify_Server_Cert"),
    ("Master_Server_Id", "Source_Server_Id"),
    ("Master_UUID", "Source_UUID"),
    ("Master_Info_File", "Source_Info_File"),
    ("Slave_SQL_Running_State", "Replica_SQL_Running_State"),
    ("Master_Retry_Count", "Source_Retry_Count"),
    ("Master_Bind", "Source_Bind"),
    ("Master_SSL_Crl", "Source_SSL_Crl"),
    ("Master_SSL_Crlpath", "Source_SSL_Crlpath"),
    ("Master_TLS_Version", "Source_TLS_Version"),
    ("Master_public_key_path", "Source_public_key_path"),
    ("Get_master_public_key", "Get_Source_public_key"),
];

/// The other name of a renamed column (old → new, new → old); `None` for a
/// column with one name. Exact spelling (the servers' own).
pub fn other_name(column: &str) -> Option<&'static str> {
    RENAMED_STATUS_COLUMNS.iter().find_map(|&(old, new)| {
        if column == old {
            Some(new)
        } else if column == new {
            Some(old)
        } else {
            None
        }
    })
}

/// Looks `column` up through `get` by the name given, then by its other
/// name: a row of either naming scheme answers to both.
pub fn lookup<T>(column: &str, get: impl Fn(&str) -> Option<T>) -> Option<T> {
    get(column).or_else(|| other_name(column).and_then(get))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_both_ways() {
        for &(old, new) in RENAMED_STATUS_COLUMNS {
            assert_eq!(other_name(old), Some(new));
            assert_eq!(other_name(new), Some(old));
            assert_ne!(old, new);
        }
        // Each name is in one pair only.
        let mut all: Vec<&str> = RENAMED_STATUS_COLUMNS.iter().flat_map(|&(o, n)| [o, n]).collect();
        all.sort_unstable();
        let n = all.len();
        all.dedup();
        assert_eq!(all.len(), n, "a name in two pairs");
        // Columns with one name, and names a prefix rule would have made up.
        for one in ["Relay_Log_File", "Relay_Log_Pos", "Last_SQL_Errno", "Gtid_Slave_Pos", "Using_Gtid"] {
            assert_eq!(other_name(one), None, "{one}");
        }
    }

    #[test]
    fn lookup_by_either_name() {
        let new_row = |k: &str| (k == "Seconds_Behind_Source").then_some(7);
        assert_eq!(lookup("Seconds_Behind_Master", new_row), Some(7));
        let old_row = |k: &str| (k == "Master_Host").then_some("db1");
        assert_eq!(lookup("Source_Host", old_row), Some("db1"));
        assert_eq!(lookup("Master_Host", old_row), Some("db1"));
        assert_eq!(lookup("Relay_Log_File", old_row), None);
    }
}

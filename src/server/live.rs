//! The replication state of live replicas, read over the MySQL protocol:
//! what `diff --live` plans from.

use crate::error::Result;
use crate::position::ReplicaState;

use super::{ConnSpec, replica_state};

/// Connects to each named replica in turn and reads its state
/// ([`replica_state`]: `SHOW SLAVE STATUS`, its relay-log folder, server id
/// and GTID position), with the host and port it was reached at, for a plan
/// that `apply --plan` then applies to it. In the order given.
///
/// # Errors
/// The first replica that cannot be reached ([`ErrorKind::Connect`](crate::error::ErrorKind::Connect),
/// naming it), whose status cannot be read, or that is not a replica.
pub fn replica_states(replicas: &[(String, ConnSpec)]) -> Result<Vec<ReplicaState>> {
    replicas
        .iter()
        .map(|(name, spec)| {
            let mut conn = spec.connect()?;
            let mut st = replica_state(&mut conn, name)?;
            st.host.clone_from(&spec.host);
            st.port = spec.port;
            Ok(st)
        })
        .collect()
}

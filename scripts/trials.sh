#!/usr/bin/env bash
# Randomized trials on real MariaDB servers:
#   scripts/trials.sh [N [SEED]]   single-failover trials SEED .. SEED+N-1 (tests/trials.rs)
#                                  and chained operator trials SEED .. SEED+N-1 (tests/chained_trials.rs:
#                                  failover, writes, switch, writes, ack, failover, with faults)
# (default 100 of each from 1). Each prints its draw and result; a failing one
# names its seed, so `scripts/trials.sh 1 SEED` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
export BINLOG_DIFF_TRIALS=${1:-100} BINLOG_DIFF_TRIAL_SEED=${2:-1}
export BINLOG_DIFF_CHAINS=$BINLOG_DIFF_TRIALS BINLOG_DIFF_CHAIN_SEED=$BINLOG_DIFF_TRIAL_SEED
cargo test --locked --release --test trials --test chained_trials -- --nocapture

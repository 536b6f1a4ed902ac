#!/usr/bin/env bash
# Randomized failover trials on real MariaDB servers (tests/trials.rs):
#   scripts/trials.sh [N [SEED]]   trials SEED .. SEED+N-1 (default 100 from 1)
# Each trial prints its draw and result; a failing one names its seed, so
# `scripts/trials.sh 1 SEED` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
BINLOG_DIFF_TRIALS=${1:-100} BINLOG_DIFF_TRIAL_SEED=${2:-1} \
    cargo test --locked --release --test trials -- --nocapture

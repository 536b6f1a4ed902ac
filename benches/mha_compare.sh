#!/usr/bin/env bash
#
# benches/mha_compare.sh -- the same MHA failover driven by the real manager
# (Debian mha4mysql-manager 0.58) with MHA's Perl node tools and with
# binlog-diff's, side by side from one run.
#
# Usage:  benches/mha_compare.sh                 # small lag (the CI scenario)
#         BENCH_LAG_BYTES=330000000 benches/mha_compare.sh   # a replica >= 300 MiB behind
#
# What it does (the ignored test `bench_manager_failover` in
# tests/mha_manager.rs, built in release mode): for each variant, a fresh
# 1 master + 3 replica MariaDB topology on 127.0.0.1, the same seeded
# workload, replicas stopped at the same points (one inside a transaction,
# lag across several master binlog files; with BENCH_LAG_BYTES the replica
# that stops first also lacks that many bytes of ~4 MiB transactions), the
# master SIGKILLed, then `masterha_master_switch --master_state=dead
# --interactive=0` over a key-only sshd on loopback whose PATH puts the
# variant's node tools first. Each node tool is wrapped to log its own wall
# time per call (the wrapper never logs arguments: they carry a password).
#
# Variants:
#   ours   binlog-diff under MHA's node tool names.
#   perl   Debian's mha4mysql-node 0.58 with the patches it needs to run at
#          all on this machine (a private PERL5LIB copy: version parsing on
#          current Perl, super_read_only on MariaDB) and a client_bindir whose
#          mysqlbinlog is `mariadb-binlog --skip-gtid-strict-mode` (without it
#          the Perl apply silently loses transactions after a master rotation
#          inside a diff; BENCH_PERL_AS_PACKAGED=1 adds that variant too).
#
# Printed: manager result, masterha_master_switch wall time, transactions
# missing on the survivors (compared with the master's committed state
# before the kill), each node command's calls and total time, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --test mha_manager -- --ignored --exact bench_manager_failover --nocapture --test-threads=1

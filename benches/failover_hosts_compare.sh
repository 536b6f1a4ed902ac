#!/usr/bin/env bash
#
# benches/failover_hosts_compare.sh -- the same failover across four hosts
# (network namespaces: each server its own address, mariadbd and sshd on
# port 22), once by MHA's real manager with MHA's own Perl node tools, once
# by `binlog-diff failover`; time from the master's SIGKILL to done.
#
# Usage:  benches/failover_hosts_compare.sh                       # small lag
#         BENCH_LAG_BYTES=300000000 benches/failover_hosts_compare.sh  # a replica ~300 MB behind
#         BENCH_PUSH=0 ...   # leave out the `--push-binary` variant
#         BENCH_HERE=1 ...   # add `--apply-from here` (diffs brought to the driver first)
#
# Needs root (network namespaces), mariadb-server, openssh-server, iproute2,
# mha4mysql-manager and mha4mysql-node (scripts/test.sh installs them).
#
# What it does (the ignored test `bench_failover_hosts` in
# tests/hosts_compare.rs, built in release mode): for each variant a fresh
# 1 master + 3 replica netns topology, the same seeded workload, the
# replicas stopped at the same points (lag across several master binlog
# files, one replica stopped inside a transaction, a tail only the master
# has; with BENCH_LAG_BYTES the replica that stops first also lacks that many
# bytes of ~4 MiB transactions, and binlogs are 64 MiB instead of 16 KiB),
# then the master's mysqld SIGKILLed (its host stays up) and the replicas'
# IO threads restarted ("Connecting"), then the variant's failover command.
# The clock runs from the SIGKILL to the command's exit.
#
# Variants:
#   MHA + Perl node       masterha_master_switch --master_state=dead
#                         --interactive=0, Debian's mha4mysql-node 0.58 first
#                         on every host's ssh PATH, with the workarounds it
#                         needs here (a private PERL5LIB copy patched for
#                         current Perl and MariaDB, and a client_bindir whose
#                         mysqlbinlog is `mariadb-binlog --skip-gtid-strict-mode`;
#                         see tests/support/mha.rs). Each node tool call is
#                         timed by a wrapper (never logging its arguments).
#   ours --remote-binary  binlog-diff failover, the release binary by its
#                         absolute path on the hosts (as if installed there;
#                         the hosts share this machine's filesystem), run in
#                         a mount namespace where every server's files are
#                         hidden (all it reads of them comes over ssh).
#                         Defaults: each replica's diff applied on 4
#                         connections (--parallel 4), the relay diffs from the
#                         latest replica's host straight to each replica.
#   ours --parallel 1     as --remote-binary, each replica's diff applied on
#                         one connection.
#   ours --push-binary    the same, copying the binary to every host first.
#   ours --apply-from here
#                         (BENCH_HERE=1) the relay diffs brought to the driver
#                         and applied from there, instead of from the latest
#                         replica's host straight to each replica (the default).
#
# Printed: result, wall time SIGKILL -> done (and of it the command alone),
# ratio to MHA, new master, transactions missing on the survivors compared
# with the master's committed state before the kill, then MHA's top-level
# phases from its log (1 s timestamps), each node command's calls and total
# time, and our per-phase times (from `--json`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --test hosts_compare -- --ignored --exact bench_failover_hosts --nocapture --test-threads=1

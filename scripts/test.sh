#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it).
# Installs what the tests need on a fresh Debian machine, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v mariadbd >/dev/null 2>&1 || need_pkgs+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need_pkgs+=(mariadb-client)
# MHA's Perl node tools: the reference our mapping is compared with.
command -v apply_diff_relay_logs >/dev/null 2>&1 || need_pkgs+=(mha4mysql-node)
# MHA's manager: drives a real failover with our node tools (tests/mha_manager.rs).
command -v masterha_master_switch >/dev/null 2>&1 || need_pkgs+=(mha4mysql-manager)
# sshd on a loopback port: generate_and_send, and the manager's transport.
command -v sshd >/dev/null 2>&1 || command -v /usr/sbin/sshd >/dev/null 2>&1 || need_pkgs+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_pkgs+=(openssh-client)
# Test hosts in network namespaces (tests/phase_hosts.rs): ip, ss; unshare and mount (util-linux).
command -v ip >/dev/null 2>&1 || command -v /usr/sbin/ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v unshare >/dev/null 2>&1 || need_pkgs+=(util-linux)
# The shipped VIP hooks' gratuitous ARP (tests/vip_hooks.rs; without it the test flushes the ARP entry).
command -v arping >/dev/null 2>&1 || command -v /usr/sbin/arping >/dev/null 2>&1 || need_pkgs+=(iputils-arping)
# The ssh2 crate builds libssh2 against OpenSSL.
dpkg -s libssl-dev >/dev/null 2>&1 || need_pkgs+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || need_pkgs+=(pkg-config)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing: ${need_pkgs[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    else
        echo "warning: ${need_pkgs[*]} missing and not root; tests that need a server will fail" >&2
    fi
fi

if [ ! -f ../shared/testdata/public/MANIFEST.md ] && [ -z "${BINLOG_DIFF_CORPUS:-}" ]; then
    echo "warning: public corpus not found at ../shared/testdata/public; golden corpus tests will be skipped" >&2
fi

cargo test --locked "$@"

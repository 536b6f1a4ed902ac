//! A virtual IP (VIP) on the hosts of a netns topology, as the shipped hook
//! scripts (`samples/scripts/`) move it.
//!
//! * The address: [`netns::Net::vip`], one address of the topology's /27
//!   slice that no host has (`.32s+30`), with the slice's prefix length.
//!   [`Topology::add_vip`] puts it on a host's `eth0` (the master's, before
//!   a test starts the application); the hook scripts then move it with
//!   `ip addr del/add` over ssh.  It goes away with the namespaces.
//! * The client side: the application ([`super::app`]) runs in the root
//!   namespace (where the driver runs) and reaches the VIP through the
//!   bridge; the bridge learns the new port from the first frame of the host
//!   that has it.  The root namespace's ARP entry for the VIP is updated by
//!   the gratuitous ARP the hooks send with `arping` (iputils-arping,
//!   installed by `scripts/test.sh`).  Where `arping` is missing the hooks
//!   say so and the entry would keep the old host's MAC until it expires
//!   (tens of seconds), so [`Topology::vip_client_fix`] gives the
//!   application a callback that flushes that one entry after a failed
//!   connect: what a client's own ARP timeout would do, sooner.
//! * The servers must listen on the VIP too: start the topology with
//!   [`VIP_SERVER_OPTION`] (`--bind-address=0.0.0.0`: every address of the
//!   host's namespace, which has only `lo` and `eth0`).
//! * [`Topology::vip_holders`]: which hosts have it now (`ip -o addr` in
//!   each namespace).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::netns::{self, SLICE_PREFIX_LEN};
use super::process::find_tool;
use super::topology::Topology;

/// The server option that makes mariadbd listen on the VIP when its host
/// has it (see the module doc).
pub const VIP_SERVER_OPTION: &str = "--bind-address=0.0.0.0";

impl Topology {
    /// The topology's VIP (netns topologies with fewer than
    /// [`netns::MAX_HOSTS`] hosts).
    pub fn vip(&self) -> Ipv4Addr {
        self.net().and_then(netns::Net::vip).expect("a VIP needs a netns topology with a free address")
    }

    /// `<vip>/<slice prefix>`, as `ip addr add` takes it.
    pub fn vip_cidr(&self) -> String {
        format!("{}/{SLICE_PREFIX_LEN}", self.vip())
    }

    /// Adds the VIP to host `server`'s `eth0`.
    pub fn add_vip(&self, server: usize) {
        let o = self.in_netns(server, netns::ip_path()).args(["addr", "add", &self.vip_cidr(), "dev", "eth0"]).output();
        let o = o.unwrap_or_else(|e| self.fail(server, format!("ip addr add: {e}")));
        assert!(
            o.status.success(),
            "ip addr add {} on {}: {}",
            self.vip_cidr(),
            self.name(server),
            super::process::all_text(&o)
        );
    }

    /// The servers whose host has the VIP on an interface now.
    pub fn vip_holders(&self) -> Vec<usize> {
        let want = format!(" {}/", self.vip());
        self.servers()
            .filter(|&s| {
                let o = self.in_netns(s, netns::ip_path()).args(["-o", "-4", "addr", "show"]).output().unwrap();
                String::from_utf8_lossy(&o.stdout).contains(&want)
            })
            .collect()
    }

    /// For the application's failed connects: `None` when `arping` is
    /// installed (the hooks' gratuitous ARP moves the client), else a
    /// callback that flushes the root namespace's ARP entry for the VIP on
    /// the topology's bridge (see the module doc).
    pub fn vip_client_fix(&self) -> Option<Box<dyn Fn() + Send>> {
        if find_tool("arping").is_some() {
            return None;
        }
        eprintln!(
            "[vip] arping is not installed: the application flushes its ARP entry for the VIP after a failed connect"
        );
        let (vip, bridge) = (self.vip().to_string(), self.net().unwrap().bridge().to_string());
        Some(Box::new(move || {
            let _ = netns::ip(&["neigh", "flush", "to", &vip, "dev", &bridge]);
        }))
    }

    /// The shipped hook scripts (`samples/scripts/`) copied into `dir`, as an
    /// operator installs them, with a `vip.conf` for this topology's VIP on
    /// `eth0`, application accounts `app_users`, and the harness's ssh key
    /// and known_hosts.  Returns `(master_ip_failover, master_ip_online_change)`.
    pub fn install_vip_hooks(&self, dir: &Path, app_users: &str) -> (PathBuf, PathBuf) {
        std::fs::create_dir_all(dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/scripts");
        for f in ["master_ip_failover", "master_ip_online_change", "vip-lib.sh"] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
        }
        let conf = format!(
            "VIP_ADDRESS={}\nVIP_INTERFACE=eth0\nVIP_APP_USERS='{app_users}'\nVIP_SSH_OPTIONS='-F none {}'\nVIP_SSH_TIMEOUT=5\n",
            self.vip_cidr(),
            self.ssh_options()
        );
        std::fs::write(dir.join("vip.conf"), conf).unwrap();
        (dir.join("master_ip_failover"), dir.join("master_ip_online_change"))
    }
}

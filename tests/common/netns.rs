//! Network namespaces for tests that need processes on separate network stacks (load
//! from many machines): one namespace for the target, with a bridge, and one per
//! generator, each joined to the bridge by a veth pair. Every address is in
//! 127.66.0.0/16: loopback addresses, routed over the veths with `route_localnet`, so
//! nothing can leave this machine and the project's loopback-only rule holds (the
//! servers and the generator accept them as loopback). Made with `ip netns`, which
//! needs root; everything made is deleted on drop.

use std::ffi::OsStr;
use std::process::Command;

/// Where the target listens, inside its namespace.
pub const TARGET_ADDRESS: &str = "127.66.0.1";

/// The namespaces of one test; deleted on drop.
pub struct Namespaces {
    prefix: String,
    made: Vec<String>,
    generators: usize,
}

impl Namespaces {
    /// Makes the target's namespace and `generators` generator namespaces wired to it,
    /// or says why they could not be made (not root, no `ip`, no veth support).
    pub fn make(generators: usize) -> Result<Self, String> {
        let mut namespaces = Self {
            prefix: format!("sabench-{}", std::process::id()),
            made: Vec::new(),
            generators,
        };
        let target = namespaces.target();
        namespaces.add(&target)?;
        ip(&["-n", &target, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &target, "link", "set", "br0", "up"])?;
        let address = format!("{TARGET_ADDRESS}/16");
        ip(&["-n", &target, "addr", "add", &address, "dev", "br0"])?;
        allow_loopback_routing(&target)?;
        for i in 1..=generators {
            let generator = namespaces.generator(i);
            namespaces.add(&generator)?;
            let (near, far) = (format!("vt{i}"), format!("vs{i}"));
            ip(&[
                "-n", &target, "link", "add", &near, "type", "veth", "peer", "name", &far, "netns",
                &generator,
            ])?;
            ip(&["-n", &target, "link", "set", &near, "master", "br0", "up"])?;
            let address = format!("127.66.0.{}/16", i + 1);
            ip(&["-n", &generator, "addr", "add", &address, "dev", &far])?;
            ip(&["-n", &generator, "link", "set", &far, "up"])?;
            allow_loopback_routing(&generator)?;
        }
        Ok(namespaces)
    }

    /// The target's namespace.
    pub fn target(&self) -> String {
        format!("{}-target", self.prefix)
    }

    /// Generator `i`'s namespace (1-based).
    pub fn generator(&self, i: usize) -> String {
        assert!((1..=self.generators).contains(&i));
        format!("{}-gen{i}", self.prefix)
    }

    /// `program` run inside namespace `name`.
    pub fn command_in(&self, name: &str, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", name]).arg(program);
        command
    }

    /// Packets generator `i` sent over its own link to the target.
    pub fn packets_sent_by(&self, i: usize) -> u64 {
        let output = self
            .command_in(&self.generator(i), "cat")
            .arg(format!("/sys/class/net/vs{i}/statistics/tx_packets"))
            .output()
            .expect("read the veth's counters");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    fn add(&mut self, name: &str) -> Result<(), String> {
        ip(&["netns", "add", name])?;
        self.made.push(name.to_string());
        Ok(())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.made {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Lets 127.0.0.0/8 addresses be routed over the namespace's links (Linux drops them as
/// martians on anything but `lo` otherwise).
fn allow_loopback_routing(namespace: &str) -> Result<(), String> {
    ip(&[
        "netns",
        "exec",
        namespace,
        "sysctl",
        "-qw",
        "net.ipv4.conf.all.route_localnet=1",
    ])
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip` could not run: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

//! Separate hosts on one machine: Linux network namespaces joined by veth pairs to a
//! bridge, each host with its own address, so a test runs a seed and nodes the way they
//! run on different machines (each on the network's default port, no shared loopback).
//!
//! Nothing of it touches the machine's own network: the bridge lives in a namespace of
//! its own, both ends of every veth pair are created inside namespaces, and the test
//! talks to the hosts through `ip netns exec` (curl, dig). Names carry the test's PID and
//! a sequence number (`fnet-<pid>-<n>-h<i>`), so runs never collide; namespaces left by a
//! run that was killed (their PID is gone) are swept, with any process still inside,
//! before a new topology is made; and [`Hosts`] deletes its namespaces when dropped, also
//! when the test fails.
//!
//! Needs root and iproute2 (`ip`). [`require_netns`] fails a test that lacks them with
//! a message saying so, unless `FERRO_SKIP_NETNS=1` asks to skip it explicitly.

use anyhow::Context;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Prefix of every namespace these tests make.
const PREFIX: &str = "fnet-";
/// The hosts' subnet (inside the namespaces only).
pub const SUBNET: &str = "10.77.0.0/24";

/// Whether namespace tests should run: `true` when root with `ip`, `false` (after saying
/// so) when `FERRO_SKIP_NETNS=1`; panics with what is missing otherwise.
pub fn require_netns() -> bool {
    if std::env::var("FERRO_SKIP_NETNS").is_ok_and(|v| v == "1") {
        eprintln!("FERRO_SKIP_NETNS=1: skipping a test that needs network namespaces");
        return false;
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "this test makes network namespaces (ip netns add) and needs root; run it as root \
         (CI does) or set FERRO_SKIP_NETNS=1 to skip it"
    );
    assert!(
        Command::new("ip").arg("-V").output().is_ok(),
        "this test needs `ip` (iproute2): `apt-get install iproute2` (.ci/run does it), or \
         set FERRO_SKIP_NETNS=1 to skip it"
    );
    true
}

/// One host: a namespace and its address on the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    pub ns: String,
    pub ip: Ipv4Addr,
}

impl Host {
    /// `ip netns exec <ns> program args…`.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, program]);
        cmd
    }

    /// `GET url` from this host (curl), as JSON.
    pub fn get(&self, url: &str) -> anyhow::Result<Value> {
        self.curl(&["-sS", "-f", "--max-time", "5", url])
    }

    /// `POST url` with a JSON `body` from this host, as JSON.
    pub fn post(&self, url: &str, body: &Value) -> anyhow::Result<Value> {
        let body = body.to_string();
        self.curl(&[
            "-sS",
            "-f",
            "--max-time",
            "60",
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
            url,
        ])
    }

    fn curl(&self, args: &[&str]) -> anyhow::Result<Value> {
        let output = self
            .command("curl")
            .args(args)
            .output()
            .context("cannot run curl in a namespace")?;
        ensure_success(&output, &format!("curl {args:?} in {}", self.ns))?;
        serde_json::from_slice(&output.stdout).context("curl got something that is not JSON")
    }
}

/// A bridge and `count` hosts on it (`10.77.0.1` … `10.77.0.<count>`), deleted on drop.
pub struct Hosts {
    pub hosts: Vec<Host>,
    namespaces: Vec<String>,
}

impl Hosts {
    /// Sweeps stale namespaces, then makes the bridge and the hosts.
    pub fn create(count: usize) -> anyhow::Result<Hosts> {
        anyhow::ensure!((1..=250).contains(&count), "1 to 250 hosts");
        sweep_stale();
        static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
        let pid = std::process::id();
        let seq = SEQUENCE.fetch_add(1, Ordering::SeqCst);
        let run = format!("{PREFIX}{pid}-{seq}");
        // veth names are at most 15 bytes: the PID in base 36 keeps them short.
        let short = format!("fv{}{seq}", base36(pid));
        let mut made = Hosts {
            hosts: Vec::new(),
            namespaces: Vec::new(),
        };
        let bridge = format!("{run}-br");
        made.add_namespace(&bridge)?;
        ip(&["-n", &bridge, "link", "set", "lo", "up"])?;
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge, "link", "set", "br0", "up"])?;
        for i in 0..count {
            let ns = format!("{run}-h{i}");
            made.add_namespace(&ns)?;
            let (inside, port) = (format!("{short}h{i}"), format!("{short}b{i}"));
            anyhow::ensure!(inside.len() <= 15 && port.len() <= 15, "veth name too long");
            ip(&[
                "link", "add", &inside, "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &bridge,
            ])?;
            ip(&["-n", &bridge, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &bridge, "link", "set", &port, "up"])?;
            let address = Ipv4Addr::new(10, 77, 0, u8::try_from(i + 1)?);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                &inside,
            ])?;
            ip(&["-n", &ns, "link", "set", &inside, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            made.hosts.push(Host { ns, ip: address });
        }
        Ok(made)
    }

    fn add_namespace(&mut self, name: &str) -> anyhow::Result<()> {
        ip(&["netns", "add", name])?;
        self.namespaces.push(name.to_owned());
        Ok(())
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            delete_namespace(ns);
        }
    }
}

/// Kills what still runs in `ns` and deletes it (deleting a namespace deletes its veth
/// ends, and with them their peers).
fn delete_namespace(ns: &str) {
    if let Ok(output) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
            if pid.parse::<u32>().is_ok() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).status();
}

/// Deletes namespaces named by these tests whose PID no longer runs (a run that was
/// killed before it could clean up).
pub fn sweep_stale() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("sweeping stale network namespace {name} (pid {pid} is gone)");
            delete_namespace(name);
        }
    }
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run ip (iproute2)")?;
    ensure_success(&output, &format!("ip {}", args.join(" ")))
}

fn ensure_success(output: &Output, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        output.status.success(),
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

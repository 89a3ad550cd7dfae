//! The `dns_seed` binary as a child process: started with flags, its addresses read
//! from stdout (`listening on ADDR`, then `dns listening on ADDR` with DNS), its log kept
//! in a file the test can read while it runs, killed when dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::DEADLINE;

pub const BIN: &str = env!("CARGO_BIN_EXE_dns_seed");

/// A running `dns_seed`, killed when dropped.
pub struct SeedProcess {
    pub child: Child,
    pub address: SocketAddr,
    pub dns: Option<SocketAddr>,
    pub log: PathBuf,
}

impl Drop for SeedProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SeedProcess {
    /// Starts the binary with `args` (stderr to `log`) and waits for its address lines.
    pub fn spawn(args: &[&str], log: PathBuf) -> SeedProcess {
        let with_dns = args.contains(&"--dns-listen");
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DNS_SEED_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let read_address = |prefix: &str| -> SocketAddr {
            let line = rx
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("the seed prints `{prefix}ADDR`"));
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("unexpected line {line:?}, expected {prefix}ADDR"))
                .parse()
                .unwrap()
        };
        let address = read_address("listening on ");
        let dns = with_dns.then(|| read_address("dns listening on "));
        SeedProcess {
            child,
            address,
            dns,
            log,
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The DNS address (panics without DNS).
    pub fn dns(&self) -> SocketAddr {
        self.dns.expect("started with --dns-listen")
    }
}

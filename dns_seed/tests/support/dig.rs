//! `dig` (ISC BIND's dnsutils): a DNS client nobody here wrote, run as a process, its
//! answer read back from its text output. Shared by the seed's DNS tests and the
//! multi-host test of the workspace (`tests/dns_hosts.rs` includes this file).
//!
//! Tests that need it call [`require_dig`]: without `dig` they fail with a message saying
//! how to install it, unless `FERRO_SKIP_DIG=1` asks to skip them explicitly.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// Whether `dig` tests should run: `true` if `dig` is there, `false` (after saying so)
/// when `FERRO_SKIP_DIG=1`; panics with how to install it otherwise.
pub fn require_dig() -> bool {
    if std::env::var("FERRO_SKIP_DIG").is_ok_and(|v| v == "1") {
        eprintln!("FERRO_SKIP_DIG=1: skipping a test that queries with dig");
        return false;
    }
    let found = Command::new("dig").arg("-v").output().is_ok();
    assert!(
        found,
        "this test queries the seed with `dig`, which is not installed: \
         `apt-get install dnsutils` (Debian; .ci/run does it), or set FERRO_SKIP_DIG=1 to skip"
    );
    true
}

/// One resource record as dig prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    pub class: String,
    pub rtype: String,
    pub data: String,
}

/// What dig printed for one query.
#[derive(Debug, Clone, Default)]
pub struct DigAnswer {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, …
    pub status: String,
    /// Header flags: `qr`, `aa`, `tc`, `rd`, …
    pub flags: Vec<String>,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    /// Without the OPT pseudo-record (dig prints it apart).
    pub additional: Vec<Rr>,
    /// The EDNS UDP size the server offered, when it sent an OPT record.
    pub edns_udp: Option<u32>,
    /// dig got a truncated UDP answer and asked again over TCP.
    pub retried_over_tcp: bool,
    /// The transport of the answer dig shows (`UDP` or `TCP`).
    pub transport: String,
    pub raw: String,
}

impl DigAnswer {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The data of the answer records of type `rtype`.
    pub fn answer_data(&self, rtype: &str) -> Vec<String> {
        self.answer
            .iter()
            .filter(|r| r.rtype == rtype)
            .map(|r| r.data.clone())
            .collect()
    }
}

/// Runs `dig @server -p port ARGS…` and parses its output. `Err` holds the output when
/// dig got no answer (timeout, refused connection).
pub fn dig(server: std::net::SocketAddr, args: &[&str]) -> Result<DigAnswer, String> {
    dig_with(&[], server, args)
}

/// [`dig`] run through `prefix` (e.g. `ip netns exec NS`).
pub fn dig_with(
    prefix: &[&str],
    server: std::net::SocketAddr,
    args: &[&str],
) -> Result<DigAnswer, String> {
    let (program, before) = match prefix.split_first() {
        Some((program, rest)) => (*program, rest.to_vec()),
        None => ("dig", Vec::new()),
    };
    let mut cmd = Command::new(program);
    cmd.args(before);
    if !prefix.is_empty() {
        cmd.arg("dig");
    }
    cmd.arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        // One try with a short timeout: a dropped query shows up as a timeout, fast.
        .args(["+tries=1", "+timeout=2", "+nocookie"])
        .args(args);
    let output = cmd.output().map_err(|e| format!("cannot run dig: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() || !text.contains("->>HEADER<<-") {
        return Err(format!(
            "dig {args:?} got no answer (exit {}):\n{text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(parse(&text))
}

/// Parses dig's default output. When dig retried over TCP, the last answer printed is
/// the one kept.
pub fn parse(text: &str) -> DigAnswer {
    let mut answer = DigAnswer {
        raw: text.to_owned(),
        retried_over_tcp: text.contains("Truncated, retrying in TCP mode"),
        ..DigAnswer::default()
    };
    let mut section = "";
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.split("status: ").nth(1) {
            // A later answer (the TCP retry) replaces an earlier one.
            let kept_raw = std::mem::take(&mut answer.raw);
            let retried = answer.retried_over_tcp;
            answer = DigAnswer {
                raw: kept_raw,
                retried_over_tcp: retried,
                ..DigAnswer::default()
            };
            answer.status = rest.split(',').next().unwrap_or("").trim().to_owned();
            section = "";
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            let flags = rest.split(';').next().unwrap_or("");
            answer.flags = flags.split_whitespace().map(str::to_owned).collect();
        } else if let Some(rest) = line.split("udp: ").nth(1) {
            answer.edns_udp = rest.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix(";; SERVER: ") {
            answer.transport = rest
                .rsplit('(')
                .next()
                .unwrap_or("")
                .trim_end_matches(')')
                .to_owned();
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
        } else if line.starts_with(";; ADDITIONAL SECTION") {
            section = "additional";
        } else if line.is_empty() || line.starts_with(';') {
            if line.is_empty() {
                section = "";
            }
        } else if let Some(rr) = parse_rr(line) {
            match section {
                "answer" => answer.answer.push(rr),
                "authority" => answer.authority.push(rr),
                "additional" => answer.additional.push(rr),
                _ => {}
            }
        }
    }
    answer
}

fn parse_rr(line: &str) -> Option<Rr> {
    let mut parts = line.split_whitespace();
    let name = parts.next()?.to_owned();
    let ttl = parts.next()?.parse().ok()?;
    let class = parts.next()?.to_owned();
    let rtype = parts.next()?.to_owned();
    let data = parts.collect::<Vec<_>>().join(" ");
    Some(Rr {
        name,
        ttl,
        class,
        rtype,
        data,
    })
}

//! What the DNS side answers from: an immutable copy of the live nodes, rebuilt after the
//! list changes and published through a `watch` channel. A query clones the current `Arc`
//! and never touches the registry's lock, so registrations and probe rounds never wait
//! for DNS traffic and DNS traffic never waits for them.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use tokio::sync::watch;

use crate::state::{unix_now, Shared};

/// Least time between two rebuilds: changes that arrive meanwhile are folded into one.
pub const MIN_REBUILD_SPACING: Duration = Duration::from_millis(100);

/// Live nodes, sorted into what each record type needs. Bounded by the registry's
/// `--max-nodes`.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// SOA serial: the unix time of the rebuild (wrapping in 2106, as serials may).
    pub serial: u32,
    /// IPv4 nodes on the default port (apex `A`).
    pub default_v4: Vec<Ipv4Addr>,
    /// IPv6 nodes on the default port (apex `AAAA`).
    pub default_v6: Vec<Ipv6Addr>,
    /// Every live node with its port (`SRV`).
    pub all: Vec<SocketAddr>,
    /// Addresses of live nodes: the per-node names answer only for these.
    pub ips: HashSet<IpAddr>,
}

impl Snapshot {
    /// Sorts `live` (addresses of nodes whose last probe succeeded) for answering.
    pub fn build(
        live: impl IntoIterator<Item = SocketAddr>,
        default_port: u16,
        serial: u32,
    ) -> Self {
        let mut snapshot = Snapshot {
            serial,
            ..Snapshot::default()
        };
        for address in live {
            let ip = address.ip().to_canonical();
            if address.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
                continue;
            }
            if address.port() == default_port {
                match ip {
                    IpAddr::V4(v4) => snapshot.default_v4.push(v4),
                    IpAddr::V6(v6) => snapshot.default_v6.push(v6),
                }
            }
            snapshot.all.push(SocketAddr::new(ip, address.port()));
            snapshot.ips.insert(ip);
        }
        snapshot
    }
}

/// A snapshot of the list as it is now.
pub(crate) fn current(shared: &Shared, default_port: u16) -> Snapshot {
    let live = shared.registry().live_addresses();
    Snapshot::build(live, default_port, unix_now() as u32)
}

/// Rebuilds the snapshot whenever the list changes, until `stop`.
pub(crate) async fn run_snapshotter(
    shared: Arc<Shared>,
    default_port: u16,
    publish: watch::Sender<Arc<Snapshot>>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = shared.snapshot_due() => {}
        }
        let snapshot = current(&shared, default_port);
        tracing::debug!(
            nodes = snapshot.all.len(),
            default_v4 = snapshot.default_v4.len(),
            default_v6 = snapshot.default_v6.len(),
            "dns snapshot rebuilt"
        );
        publish.send_replace(Arc::new(snapshot));
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(MIN_REBUILD_SPACING) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_sorted_by_family_and_port() {
        let live: Vec<SocketAddr> = [
            "10.0.0.1:8333",
            "10.0.0.2:9000",
            "[2001:db8::1]:8333",
            "[::ffff:10.0.0.3]:8333",
            "0.0.0.0:8333",
            "10.0.0.4:0",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let snapshot = Snapshot::build(live, 8333, 7);
        assert_eq!(
            snapshot.default_v4,
            vec![
                "10.0.0.1".parse::<Ipv4Addr>().unwrap(),
                "10.0.0.3".parse().unwrap()
            ]
        );
        assert_eq!(
            snapshot.default_v6,
            vec!["2001:db8::1".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(snapshot.all.len(), 4);
        assert!(snapshot.ips.contains(&"10.0.0.2".parse().unwrap()));
        assert!(!snapshot.ips.contains(&"0.0.0.0".parse().unwrap()));
        assert_eq!(snapshot.serial, 7);
    }
}

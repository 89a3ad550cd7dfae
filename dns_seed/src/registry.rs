//! The in-memory list of nodes and its rules: who may be listed, how failed
//! probes count, how a sample is drawn. No I/O here, so every rule is tested
//! directly.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// What the seed knows about one listed node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRecord {
    /// Height the node reported at its last successful probe.
    pub height: u64,
    /// Unix seconds of the last successful probe.
    pub last_seen: u64,
    /// Failed probes since the last success; the node is dropped at the limit.
    pub failures: u32,
}

/// A listed node as `GET /nodes` serves it and the data file stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeView {
    pub address: SocketAddr,
    pub height: u64,
    pub last_seen: u64,
}

/// Why a node cannot be listed (before or after its probe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// The announced host is not the address the request came from.
    #[error("announced host {announced} is not the request's source address {source_ip}; a node can only register itself")]
    SourceMismatch {
        announced: IpAddr,
        source_ip: IpAddr,
    },
    /// The source address already has its maximum number of entries.
    #[error("source address {source_ip} already has the maximum of {limit} listed nodes")]
    SourceFull { source_ip: IpAddr, limit: usize },
    /// The whole list is full.
    #[error("the seed already lists its maximum of {limit} nodes; try again later")]
    Full { limit: usize },
}

/// What a failed probe did to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Still listed, with this many failures in a row.
    Kept(u32),
    /// Reached the limit and was removed.
    Dropped,
    /// Not listed (removed meanwhile).
    Unknown,
}

/// The node list with its bounds.
#[derive(Debug, Clone)]
pub struct Registry {
    nodes: HashMap<SocketAddr, NodeRecord>,
    max_nodes: usize,
    max_per_source: usize,
}

/// Checks that `announced` names the host the request came from (PROTOCOL.md
/// section 8), so the seed cannot be used to probe third parties.
/// IPv4-mapped IPv6 sources (`::ffff:1.2.3.4`) count as their IPv4 address.
pub fn check_source(announced: SocketAddr, source: IpAddr) -> Result<(), AdmissionError> {
    let (announced_ip, source_ip) = (announced.ip().to_canonical(), source.to_canonical());
    if announced_ip == source_ip {
        Ok(())
    } else {
        Err(AdmissionError::SourceMismatch {
            announced: announced_ip,
            source_ip,
        })
    }
}

impl Registry {
    /// An empty list with these bounds.
    pub fn new(max_nodes: usize, max_per_source: usize) -> Self {
        Self {
            nodes: HashMap::new(),
            max_nodes,
            max_per_source,
        }
    }

    /// A list restored from saved entries. Entries beyond the bounds (the
    /// limits may have been lowered since the file was written) are skipped;
    /// returns the list and how many entries were skipped.
    pub fn restore(
        entries: Vec<NodeView>,
        max_nodes: usize,
        max_per_source: usize,
    ) -> (Self, usize) {
        let mut registry = Self::new(max_nodes, max_per_source);
        let mut skipped = 0;
        for entry in entries {
            if registry.check_admission(entry.address).is_ok() {
                registry.nodes.insert(
                    entry.address,
                    NodeRecord {
                        height: entry.height,
                        last_seen: entry.last_seen,
                        failures: 0,
                    },
                );
            } else {
                skipped += 1;
            }
        }
        (registry, skipped)
    }

    /// Whether `address` may be listed now: always for a node already listed
    /// (re-registering refreshes it), otherwise within both bounds.
    pub fn check_admission(&self, address: SocketAddr) -> Result<(), AdmissionError> {
        if self.nodes.contains_key(&address) {
            return Ok(());
        }
        if self.nodes.len() >= self.max_nodes {
            return Err(AdmissionError::Full {
                limit: self.max_nodes,
            });
        }
        let source_ip = address.ip().to_canonical();
        let same_source = self
            .nodes
            .keys()
            .filter(|listed| listed.ip().to_canonical() == source_ip)
            .count();
        if same_source >= self.max_per_source {
            return Err(AdmissionError::SourceFull {
                source_ip,
                limit: self.max_per_source,
            });
        }
        Ok(())
    }

    /// Lists or refreshes a node after a successful probe. Returns whether it
    /// is new. The bounds are checked again: other registrations may have
    /// filled the list while this node was being probed.
    pub fn register(
        &mut self,
        address: SocketAddr,
        height: u64,
        now: u64,
    ) -> Result<bool, AdmissionError> {
        self.check_admission(address)?;
        let record = NodeRecord {
            height,
            last_seen: now,
            failures: 0,
        };
        Ok(self.nodes.insert(address, record).is_none())
    }

    /// Records a successful re-probe. Returns false if the node is not listed
    /// (it was dropped while the probe ran), in which case nothing changes.
    pub fn record_success(&mut self, address: SocketAddr, height: u64, now: u64) -> bool {
        match self.nodes.get_mut(&address) {
            Some(record) => {
                *record = NodeRecord {
                    height,
                    last_seen: now,
                    failures: 0,
                };
                true
            }
            None => false,
        }
    }

    /// Removes a node at once (it misbehaved). Returns whether it was listed.
    pub fn remove(&mut self, address: SocketAddr) -> bool {
        self.nodes.remove(&address).is_some()
    }

    /// Records a failed re-probe; the node is removed at `max_failures` in a row.
    pub fn record_failure(&mut self, address: SocketAddr, max_failures: u32) -> FailureOutcome {
        let Some(record) = self.nodes.get_mut(&address) else {
            return FailureOutcome::Unknown;
        };
        record.failures = record.failures.saturating_add(1);
        if record.failures >= max_failures {
            self.nodes.remove(&address);
            FailureOutcome::Dropped
        } else {
            FailureOutcome::Kept(record.failures)
        }
    }

    /// Up to `limit` live nodes (last probe succeeded), chosen at random and in
    /// random order, so clients spread their connections over the network.
    pub fn sample<R: Rng + ?Sized>(&self, limit: usize, rng: &mut R) -> Vec<NodeView> {
        let live: Vec<NodeView> = self
            .nodes
            .iter()
            .filter(|(_, record)| record.failures == 0)
            .map(|(address, record)| view(*address, record))
            .collect();
        live.choose_multiple(rng, limit).cloned().collect()
    }

    /// Addresses of the live nodes (last probe succeeded), in no particular order.
    pub fn live_addresses(&self) -> Vec<SocketAddr> {
        self.nodes
            .iter()
            .filter(|(_, record)| record.failures == 0)
            .map(|(address, _)| *address)
            .collect()
    }

    /// Every listed node, sorted by address (for saving and for re-probing).
    pub fn entries(&self) -> Vec<NodeView> {
        let mut all: Vec<NodeView> = self
            .nodes
            .iter()
            .map(|(address, record)| view(*address, record))
            .collect();
        all.sort_by_key(|v| v.address);
        all
    }

    /// The record of one node.
    pub fn get(&self, address: SocketAddr) -> Option<NodeRecord> {
        self.nodes.get(&address).copied()
    }

    /// Listed nodes, live or failing.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Listed nodes whose last probe succeeded.
    pub fn live_count(&self) -> usize {
        self.nodes.values().filter(|r| r.failures == 0).count()
    }
}

fn view(address: SocketAddr, record: &NodeRecord) -> NodeView {
    NodeView {
        address,
        height: record.height,
        last_seen: record.last_seen,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn source_must_match_the_announced_host() {
        let source: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(check_source(addr("10.0.0.1:8000"), source).is_ok());
        let error = check_source(addr("10.0.0.2:8000"), source).unwrap_err();
        assert!(matches!(error, AdmissionError::SourceMismatch { .. }));
        // An IPv4 client seen through a dual-stack socket.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(check_source(addr("10.0.0.1:8000"), mapped).is_ok());
    }

    #[test]
    fn per_source_and_total_bounds() {
        let mut registry = Registry::new(3, 2);
        assert!(registry.register(addr("10.0.0.1:1"), 0, 1).unwrap());
        assert!(registry.register(addr("10.0.0.1:2"), 0, 1).unwrap());
        assert_eq!(
            registry.register(addr("10.0.0.1:3"), 0, 1),
            Err(AdmissionError::SourceFull {
                source_ip: "10.0.0.1".parse().unwrap(),
                limit: 2
            })
        );
        // Re-registering a listed node refreshes it even at the bound.
        assert!(!registry.register(addr("10.0.0.1:2"), 5, 9).unwrap());
        assert_eq!(registry.get(addr("10.0.0.1:2")).unwrap().height, 5);
        assert!(registry.register(addr("10.0.0.2:1"), 0, 1).unwrap());
        assert_eq!(
            registry.register(addr("10.0.0.3:1"), 0, 1),
            Err(AdmissionError::Full { limit: 3 })
        );
    }

    #[test]
    fn failures_in_a_row_drop_a_node() {
        let mut registry = Registry::new(10, 10);
        let node = addr("10.0.0.1:1");
        registry.register(node, 1, 1).unwrap();
        assert_eq!(registry.record_failure(node, 3), FailureOutcome::Kept(1));
        assert_eq!(registry.record_failure(node, 3), FailureOutcome::Kept(2));
        // A success resets the count.
        assert!(registry.record_success(node, 2, 5));
        assert_eq!(registry.record_failure(node, 3), FailureOutcome::Kept(1));
        assert_eq!(registry.record_failure(node, 3), FailureOutcome::Kept(2));
        assert_eq!(registry.record_failure(node, 3), FailureOutcome::Dropped);
        assert!(registry.is_empty());
        assert_eq!(registry.record_failure(node, 3), FailureOutcome::Unknown);
        assert!(!registry.record_success(node, 2, 5));
    }

    #[test]
    fn sample_is_bounded_live_and_shuffled() {
        let mut registry = Registry::new(100, 100);
        for port in 1..=20u16 {
            registry
                .register(addr(&format!("10.0.0.1:{port}")), port.into(), 1)
                .unwrap();
        }
        registry.record_failure(addr("10.0.0.1:1"), 5);
        let mut rng = rand::thread_rng();
        assert_eq!(registry.sample(5, &mut rng).len(), 5);
        let all = registry.sample(100, &mut rng);
        assert_eq!(all.len(), 19, "the failing node is not served");
        assert!(all.iter().all(|v| v.address != addr("10.0.0.1:1")));
        let orders: HashSet<Vec<SocketAddr>> = (0..20)
            .map(|_| {
                registry
                    .sample(100, &mut rng)
                    .into_iter()
                    .map(|v| v.address)
                    .collect()
            })
            .collect();
        assert!(orders.len() > 1, "samples always come in the same order");
        assert_eq!(registry.live_count(), 19);
        assert_eq!(registry.len(), 20);
    }

    #[test]
    fn restore_skips_entries_beyond_the_bounds() {
        let entries = (1..=5)
            .map(|port| NodeView {
                address: addr(&format!("10.0.0.1:{port}")),
                height: 1,
                last_seen: 2,
            })
            .collect();
        let (registry, skipped) = Registry::restore(entries, 100, 3);
        assert_eq!((registry.len(), skipped), (3, 2));
    }
}

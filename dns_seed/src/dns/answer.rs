//! What the seed answers to one query: a pure function of the zone, the snapshot, the
//! query and a random source. No I/O and no locks, so every rule is tested directly.
//!
//! Names of the zone (`<zone>` is `--zone`):
//! - `<zone>`: `A`/`AAAA` a fresh random sample of live nodes on the default port, `SOA`,
//!   `NS`; other types have no data.
//! - `_ferro._tcp.<zone>`: `SRV` up to [`MAX_SRV`] live nodes with their ports. Each
//!   target is a name of the node inside the zone (below), whose address rides in the
//!   additional section.
//! - `ip4-A-B-C-D.<zone>` / `ip6-H-H-H-H-H-H-H-H.<zone>` (hex groups without leading
//!   zeros): the node's `A` or `AAAA`, while that address is live; NXDOMAIN otherwise.
//! - the `--ns` name when it is inside the zone: the DNS listen address when it is a
//!   specific one.
//! - `_tcp.<zone>` exists (it has a child) but holds no data.
//!
//! Everything else inside the zone is NXDOMAIN, and every name outside it is REFUSED: the
//! seed is authoritative for its zone and nothing else, never an open resolver. Opcodes
//! other than QUERY are NOTIMP, EDNS versions other than 0 BADVERS, and a message with
//! other than one question FORMERR.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, SRV};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use hickory_server::zone_handler::MessageRequest;
use rand::seq::SliceRandom;
use rand::Rng;

use super::snapshot::Snapshot;

/// TTL of every record about nodes. Never lower: the Bitcoin Core DNS seed policy's
/// floor, so resolvers cache answers and the seed is not asked for every connection.
pub const NODE_TTL: u32 = 60;
/// TTL of `NS`, which changes only with the seed's configuration.
pub const ZONE_TTL: u32 = 3600;
/// TTL of the `SOA` and the negative-caching time it announces (SOA `minimum`).
pub const SOA_TTL: u32 = 60;
/// Most `A` records at the apex: about what a 512-byte UDP answer holds (fewer when a long
/// zone name leaves less room, see [`apex_capacity`]).
pub const MAX_APEX_A: usize = 20;
/// Most `SRV` records in one answer.
pub const MAX_SRV: usize = 100;
/// The label of the service under the zone.
pub const SRV_LABELS: [&str; 2] = ["_ferro", "_tcp"];
/// Longest zone accepted: the longest node name (`ip6-` and eight hex groups, 44 bytes
/// with its length byte) must still fit in a 255-byte name.
pub const MAX_ZONE_LEN: usize = 200;
/// `SRV` priority and weight: every node is equal.
const SRV_PRIORITY: u16 = 10;
const SRV_WEIGHT: u16 = 10;

/// Why a zone cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("the zone must be a domain name below the root, e.g. seed.devnet.ferro., got {0:?}")]
    Root(String),
    #[error("the zone {0:?} is longer than {MAX_ZONE_LEN} bytes")]
    TooLong(String),
    #[error("{name:?} is not a valid domain name: {reason}")]
    Invalid { name: String, reason: String },
}

/// Parses a zone or host name, fully qualified and lower-cased.
pub fn parse_name(text: &str) -> Result<Name, ZoneError> {
    let mut name = Name::from_ascii(text.trim()).map_err(|e| ZoneError::Invalid {
        name: text.chars().take(300).collect(),
        reason: e.to_string(),
    })?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// Parses `--zone`: a name below the root, short enough for the node names below it.
pub fn parse_zone(text: &str) -> Result<Name, ZoneError> {
    let zone = parse_name(text)?;
    if zone.is_root() {
        return Err(ZoneError::Root(text.to_owned()));
    }
    if zone.len() > MAX_ZONE_LEN {
        return Err(ZoneError::TooLong(text.chars().take(300).collect()));
    }
    Ok(zone)
}

/// The fixed part of the zone: its names and its `SOA`/`NS` data.
#[derive(Debug, Clone)]
pub struct Zone {
    apex: Name,
    apex_lower: LowerName,
    srv: LowerName,
    srv_parent: LowerName,
    ns: Name,
    ns_lower: LowerName,
    /// Address of the `--ns` name when it lies inside the zone and the DNS side listens on
    /// a specific address.
    ns_address: Option<IpAddr>,
    mbox: Name,
    default_port: u16,
}

impl Zone {
    /// The zone `apex` (see [`parse_zone`]); `ns` and `mbox` are the `SOA`'s names
    /// (`ns.<zone>` and `hostmaster.<zone>` when `None`); `listen` is the DNS address.
    pub fn new(
        apex: Name,
        ns: Option<Name>,
        mbox: Option<Name>,
        default_port: u16,
        listen: Option<IpAddr>,
    ) -> Result<Self, ZoneError> {
        let child = |label: &str| {
            Name::from_ascii(label)
                .and_then(|n| n.append_domain(&apex))
                .map_err(|e| ZoneError::Invalid {
                    name: format!("{label}.{apex}"),
                    reason: e.to_string(),
                })
        };
        let srv_parent = child(SRV_LABELS[1])?;
        let srv = Name::from_ascii(SRV_LABELS[0])
            .and_then(|n| n.append_domain(&srv_parent))
            .map_err(|e| ZoneError::Invalid {
                name: format!("{}.{srv_parent}", SRV_LABELS[0]),
                reason: e.to_string(),
            })?;
        let ns = match ns {
            Some(ns) => ns,
            None => child("ns")?,
        };
        let mbox = match mbox {
            Some(mbox) => mbox,
            None => child("hostmaster")?,
        };
        let ns_lower = LowerName::from(&ns);
        let apex_lower = LowerName::from(&apex);
        let ns_address = listen
            .filter(|ip| !ip.is_unspecified())
            .filter(|_| apex_lower.zone_of(&ns_lower));
        Ok(Zone {
            apex_lower,
            srv: LowerName::from(&srv),
            srv_parent: LowerName::from(&srv_parent),
            apex,
            ns,
            ns_lower,
            ns_address,
            mbox,
            default_port,
        })
    }

    /// The zone's name.
    pub fn apex(&self) -> &Name {
        &self.apex
    }

    /// The port apex `A`/`AAAA` answers imply.
    pub fn default_port(&self) -> u16 {
        self.default_port
    }

    /// `SRV` owner name of the nodes: `_ferro._tcp.<zone>`.
    pub fn srv_name(&self) -> Name {
        Name::from(&self.srv)
    }

    /// The name inside the zone that stands for `ip` (an `SRV` target).
    pub fn node_name(&self, ip: IpAddr) -> Option<Name> {
        Name::from_ascii(node_label(ip))
            .and_then(|n| n.append_domain(&self.apex))
            .ok()
    }

    fn soa(&self, serial: u32) -> Record {
        let soa = SOA::new(
            self.ns.clone(),
            self.mbox.clone(),
            serial,
            3600,
            600,
            86_400,
            SOA_TTL,
        );
        Record::from_rdata(self.apex.clone(), SOA_TTL, RData::SOA(soa))
    }

    fn classify(&self, name: &LowerName) -> Place {
        if *name == self.apex_lower {
            Place::Apex
        } else if *name == self.srv {
            Place::Service
        } else if *name == self.srv_parent {
            Place::EmptyNonTerminal
        } else if *name == self.ns_lower {
            Place::NameServer
        } else if name.num_labels() == self.apex_lower.num_labels().saturating_add(1) {
            let first = Name::from(name).iter().next().map(<[u8]>::to_vec);
            match first.and_then(|label| parse_node_label(&label)) {
                Some(ip) => Place::Node(ip),
                None => Place::Unknown,
            }
        } else {
            Place::Unknown
        }
    }
}

/// Where a queried name falls in the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Apex,
    Service,
    EmptyNonTerminal,
    NameServer,
    Node(IpAddr),
    Unknown,
}

/// The label naming `ip`: `ip4-10-0-0-5` or `ip6-2001-db8-0-0-0-0-0-1`.
pub fn node_label(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("ip4-{a}-{b}-{c}-{d}")
        }
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            format!("ip6-{}", groups.join("-"))
        }
    }
}

/// The address a node label stands for, if it is one in its one canonical spelling (so
/// each address has exactly one name).
pub fn parse_node_label(label: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(label).ok()?.to_ascii_lowercase();
    let ip = if let Some(rest) = text.strip_prefix("ip4-") {
        let parts: Vec<u8> = rest
            .split('-')
            .map(|p| p.parse::<u8>().ok())
            .collect::<Option<_>>()?;
        let [a, b, c, d] = <[u8; 4]>::try_from(parts).ok()?;
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    } else if let Some(rest) = text.strip_prefix("ip6-") {
        let parts: Vec<u16> = rest
            .split('-')
            .map(|p| {
                (p.len() <= 4)
                    .then(|| u16::from_str_radix(p, 16).ok())
                    .flatten()
            })
            .collect::<Option<_>>()?;
        let groups = <[u16; 8]>::try_from(parts).ok()?;
        let v6 = Ipv6Addr::from(groups);
        // Mapped IPv4 addresses are named as IPv4.
        if v6.to_ipv4_mapped().is_some() {
            return None;
        }
        IpAddr::V6(v6)
    } else {
        return None;
    };
    (node_label(ip) == text).then_some(ip)
}

/// The parts of a response [`answer`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: ResponseCode,
    /// Set for every name inside the zone.
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Reply {
    fn code(code: ResponseCode) -> Self {
        Reply {
            code,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

/// The answer to `request` from `snapshot`. Samples are drawn fresh for every query from
/// `rng`, whoever asks: no client is singled out or steered.
pub fn answer<R: Rng + ?Sized>(
    zone: &Zone,
    snapshot: &Snapshot,
    request: &MessageRequest,
    rng: &mut R,
) -> Reply {
    if request.metadata.op_code != OpCode::Query {
        return Reply::code(ResponseCode::NotImp);
    }
    // RFC 6891 6.1.3: only EDNS version 0 is spoken.
    if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
        return Reply::code(ResponseCode::BADVERS);
    }
    let [query] = request.queries.queries() else {
        return Reply::code(ResponseCode::FormErr);
    };
    if query.query_class() != DNSClass::IN || !zone.apex_lower.zone_of(query.name()) {
        return Reply::code(ResponseCode::Refused);
    }
    // Owner names keep the spelling of the question (resolvers may randomise its case).
    let owner = query.original().name().clone();
    let qtype = query.query_type();
    let mut reply = Reply {
        authoritative: true,
        ..Reply::code(ResponseCode::NoError)
    };
    match zone.classify(query.name()) {
        Place::Apex => match qtype {
            RecordType::A => {
                let limit = apex_capacity(zone, RecordType::A);
                for ip in snapshot.default_v4.choose_multiple(rng, limit) {
                    reply
                        .answers
                        .push(address_record(owner.clone(), IpAddr::V4(*ip)));
                }
            }
            RecordType::AAAA => {
                let limit = apex_capacity(zone, RecordType::AAAA);
                for ip in snapshot.default_v6.choose_multiple(rng, limit) {
                    reply
                        .answers
                        .push(address_record(owner.clone(), IpAddr::V6(*ip)));
                }
            }
            // RFC 8482: a small subset answers ANY.
            RecordType::SOA | RecordType::ANY => reply.answers.push(zone.soa(snapshot.serial)),
            RecordType::NS => {
                reply.answers.push(Record::from_rdata(
                    owner,
                    ZONE_TTL,
                    RData::NS(NS(zone.ns.clone())),
                ));
                if let Some(ip) = zone.ns_address {
                    reply.additionals.push(ns_glue(zone, ip));
                }
            }
            _ => {}
        },
        Place::Service => {
            if qtype == RecordType::SRV {
                for address in snapshot.all.choose_multiple(rng, MAX_SRV) {
                    let Some(target) = zone.node_name(address.ip()) else {
                        continue;
                    };
                    let srv = SRV::new(SRV_PRIORITY, SRV_WEIGHT, address.port(), target.clone());
                    reply.answers.push(Record::from_rdata(
                        owner.clone(),
                        NODE_TTL,
                        RData::SRV(srv),
                    ));
                    reply.additionals.push(address_record(target, address.ip()));
                }
                dedup_additionals(&mut reply.additionals);
            }
        }
        Place::EmptyNonTerminal => {}
        Place::NameServer => {
            if let Some(ip) = zone.ns_address.filter(|ip| family_matches(*ip, qtype)) {
                reply
                    .answers
                    .push(Record::from_rdata(owner, ZONE_TTL, ip_rdata(ip)));
            }
        }
        Place::Node(ip) if snapshot.ips.contains(&ip) => {
            if family_matches(ip, qtype) {
                reply.answers.push(address_record(owner, ip));
            }
        }
        Place::Node(_) | Place::Unknown => reply.code = ResponseCode::NXDomain,
    }
    if reply.answers.is_empty() {
        // No data or no such name: the SOA tells resolvers how long to cache that.
        reply.authorities.push(zone.soa(snapshot.serial));
    }
    reply
}

/// How many apex `A` or `AAAA` records fit a 512-byte UDP answer with this zone's name:
/// header (12), question (name + 4), an OPT record (11), and per record a compressed owner
/// (2), type, class, TTL and length (10) and the address (4 or 16). At most
/// [`MAX_APEX_A`].
pub fn apex_capacity(zone: &Zone, qtype: RecordType) -> usize {
    let name_wire = zone.apex.len() + 1;
    let fixed = 12 + name_wire + 4 + 11;
    let per_record = 2 + 10 + if qtype == RecordType::AAAA { 16 } else { 4 };
    (512usize.saturating_sub(fixed) / per_record).min(MAX_APEX_A)
}

fn family_matches(ip: IpAddr, qtype: RecordType) -> bool {
    matches!(
        (ip, qtype),
        (IpAddr::V4(_), RecordType::A) | (IpAddr::V6(_), RecordType::AAAA)
    )
}

fn ip_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

fn address_record(owner: Name, ip: IpAddr) -> Record {
    Record::from_rdata(owner, NODE_TTL, ip_rdata(ip))
}

fn ns_glue(zone: &Zone, ip: IpAddr) -> Record {
    Record::from_rdata(zone.ns.clone(), ZONE_TTL, ip_rdata(ip))
}

/// Two nodes on one host with different ports share one target: list its address once.
fn dedup_additionals(records: &mut Vec<Record>) {
    let mut seen = std::collections::HashSet::new();
    records.retain(|r| seen.insert((r.name.clone(), r.data.clone())));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, Query};
    use hickory_server::net::xfer::Protocol;
    use hickory_server::server::Request;
    use std::collections::HashSet;
    use std::net::SocketAddr;

    fn zone() -> Zone {
        Zone::new(
            parse_zone("seed.test.ferro").unwrap(),
            None,
            None,
            8333,
            Some("127.0.0.1".parse().unwrap()),
        )
        .unwrap()
    }

    fn snapshot() -> Snapshot {
        let mut live: Vec<SocketAddr> = (1..=40u8)
            .map(|i| SocketAddr::from(([10, 0, 0, i], 8333)))
            .collect();
        live.extend((1..=30u16).map(|i| {
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)),
                8333,
            )
        }));
        live.extend((1..=150u8).map(|i| SocketAddr::from(([10, 1, 0, i], 9000))));
        Snapshot::build(live, 8333, 1)
    }

    fn request(name: &str, qtype: RecordType) -> Request {
        let mut message = Message::new(7, MessageType::Query, OpCode::Query);
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        message.set_edns(Edns::new());
        Request::from_bytes(
            message.to_vec().unwrap(),
            "127.0.0.1:5300".parse().unwrap(),
            Protocol::Udp,
        )
        .unwrap()
    }

    fn ask(name: &str, qtype: RecordType) -> Reply {
        answer(
            &zone(),
            &snapshot(),
            &request(name, qtype),
            &mut rand::thread_rng(),
        )
    }

    #[test]
    fn node_labels_round_trip_in_one_spelling() {
        for text in [
            "10.0.0.5",
            "255.255.255.255",
            "2001:db8::1",
            "::1",
            "fe80::a:b",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(parse_node_label(node_label(ip).as_bytes()), Some(ip));
        }
        assert_eq!(
            node_label("2001:db8::1".parse().unwrap()),
            "ip6-2001-db8-0-0-0-0-0-1"
        );
        for bad in [
            "ip4-010-0-0-5",
            "ip4-10-0-0",
            "ip4-10-0-0-5-6",
            "ip4-256-0-0-1",
            "ip4--1-0-0-1",
            "ip6-2001-0db8-0-0-0-0-0-1",
            "ip6-2001-db8-0-0-0-0-0",
            "ip6-0-0-0-0-0-ffff-a00-1",
            "ip6-12345-0-0-0-0-0-0-1",
            "ip6-+1-0-0-0-0-0-0-1",
            "x",
            "",
        ] {
            assert_eq!(parse_node_label(bad.as_bytes()), None, "{bad}");
        }
        // Case does not matter in DNS names.
        assert!(parse_node_label(b"IP6-2001-DB8-0-0-0-0-0-1").is_some());
        assert_eq!(parse_node_label(&[0xff, 0xfe]), None);
    }

    #[test]
    fn apex_a_is_a_bounded_fresh_sample_with_the_floor_ttl() {
        let all: HashSet<IpAddr> = (1..=40u8).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        let mut answers = HashSet::new();
        for _ in 0..20 {
            let reply = ask("seed.test.ferro.", RecordType::A);
            assert_eq!(reply.code, ResponseCode::NoError);
            assert!(reply.authoritative);
            assert_eq!(reply.answers.len(), MAX_APEX_A);
            let ips: Vec<IpAddr> = reply
                .answers
                .iter()
                .map(|r| match &r.data {
                    RData::A(a) => IpAddr::V4(a.0),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert!(ips.iter().all(|ip| all.contains(ip)));
            assert_eq!(ips.iter().collect::<HashSet<_>>().len(), ips.len());
            assert!(reply.answers.iter().all(|r| r.ttl == NODE_TTL));
            answers.insert(ips);
        }
        assert!(answers.len() > 1, "every query draws a new sample");
        let reply = ask("SEED.test.FERRO.", RecordType::AAAA);
        assert_eq!(
            reply.answers.len(),
            apex_capacity(&zone(), RecordType::AAAA)
        );
        assert_eq!(reply.answers[0].name.to_ascii(), "SEED.test.FERRO.");
    }

    #[test]
    fn srv_lists_ports_and_targets_that_resolve() {
        let zone = zone();
        let snapshot = snapshot();
        let reply = ask("_ferro._tcp.seed.test.ferro.", RecordType::SRV);
        assert_eq!(reply.answers.len(), MAX_SRV);
        assert_eq!(reply.additionals.len(), MAX_SRV);
        for record in &reply.answers {
            let RData::SRV(srv) = &record.data else {
                panic!("{record:?}")
            };
            assert_eq!(record.ttl, NODE_TTL);
            // The target is a name of the zone that answers its address.
            let target = srv.target.to_ascii();
            let reply = answer(
                &zone,
                &snapshot,
                &request(&target, RecordType::A),
                &mut rand::thread_rng(),
            );
            let reply = if reply.answers.is_empty() {
                answer(
                    &zone,
                    &snapshot,
                    &request(&target, RecordType::AAAA),
                    &mut rand::thread_rng(),
                )
            } else {
                reply
            };
            assert_eq!(reply.answers.len(), 1, "{target}");
            let ip = match &reply.answers[0].data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(a) => IpAddr::V6(a.0),
                other => panic!("{other:?}"),
            };
            assert!(snapshot.all.contains(&SocketAddr::new(ip, srv.port)));
            assert!(reply.additionals.is_empty());
        }
    }

    #[test]
    fn negative_answers_refusals_and_odd_queries() {
        // Unknown names inside the zone: NXDOMAIN with the SOA.
        for name in [
            "nope.seed.test.ferro.",
            "a.b.seed.test.ferro.",
            "ip4-10-9-9-9.seed.test.ferro.",
            "ip4-010-0-0-1.seed.test.ferro.",
            "x._ferro._tcp.seed.test.ferro.",
        ] {
            let reply = ask(name, RecordType::A);
            assert_eq!(reply.code, ResponseCode::NXDomain, "{name}");
            assert!(reply.authoritative);
            assert!(matches!(reply.authorities[0].data, RData::SOA(_)));
        }
        // Existing names without that type: no data, not NXDOMAIN.
        for (name, qtype) in [
            ("seed.test.ferro.", RecordType::MX),
            ("seed.test.ferro.", RecordType::SRV),
            ("_tcp.seed.test.ferro.", RecordType::A),
            ("_ferro._tcp.seed.test.ferro.", RecordType::A),
            ("ip4-10-0-0-1.seed.test.ferro.", RecordType::AAAA),
        ] {
            let reply = ask(name, qtype);
            assert_eq!(reply.code, ResponseCode::NoError, "{name} {qtype}");
            assert!(reply.answers.is_empty(), "{name} {qtype}");
            assert_eq!(reply.authorities.len(), 1);
        }
        // Other zones: refused, nothing else.
        for name in ["example.com.", "test.ferro.", "seed.test.ferro.evil.", "."] {
            let reply = ask(name, RecordType::A);
            assert_eq!(reply, Reply::code(ResponseCode::Refused), "{name}");
        }
        let soa = ask("seed.test.ferro.", RecordType::SOA);
        assert!(matches!(soa.answers[0].data, RData::SOA(_)));
        let ns = ask("seed.test.ferro.", RecordType::NS);
        assert_eq!(ns.answers[0].ttl, ZONE_TTL);
        assert_eq!(ns.additionals.len(), 1, "glue for ns.<zone>");
        let glue = ask("ns.seed.test.ferro.", RecordType::A);
        assert_eq!(glue.answers.len(), 1);

        // Not a query, or not one question.
        let mut update = Message::new(1, MessageType::Query, OpCode::Update);
        update.add_query(Query::query(
            Name::from_ascii("seed.test.ferro.").unwrap(),
            RecordType::SOA,
        ));
        let update = Request::from_bytes(
            update.to_vec().unwrap(),
            "127.0.0.1:1".parse().unwrap(),
            Protocol::Udp,
        )
        .unwrap();
        let reply = answer(&zone(), &snapshot(), &update, &mut rand::thread_rng());
        assert_eq!(reply.code, ResponseCode::NotImp);
        let mut two = Message::new(1, MessageType::Query, OpCode::Query);
        for _ in 0..2 {
            two.add_query(Query::query(
                Name::from_ascii("seed.test.ferro.").unwrap(),
                RecordType::A,
            ));
        }
        let two = Request::from_bytes(
            two.to_vec().unwrap(),
            "127.0.0.1:1".parse().unwrap(),
            Protocol::Udp,
        )
        .unwrap();
        let reply = answer(&zone(), &snapshot(), &two, &mut rand::thread_rng());
        assert_eq!(reply.code, ResponseCode::FormErr);
    }

    #[test]
    fn an_empty_snapshot_answers_no_data() {
        let reply = answer(
            &zone(),
            &Snapshot::default(),
            &request("seed.test.ferro.", RecordType::A),
            &mut rand::thread_rng(),
        );
        assert_eq!(reply.code, ResponseCode::NoError);
        assert!(reply.answers.is_empty());
        assert_eq!(reply.authorities.len(), 1);
    }

    #[test]
    fn zones_are_checked() {
        assert!(matches!(parse_zone("."), Err(ZoneError::Root(_))));
        assert!(matches!(
            parse_zone(""),
            Err(ZoneError::Root(_)) | Err(ZoneError::Invalid { .. })
        ));
        assert!(parse_zone("a..b").is_err());
        let long = vec!["abcdefghij"; 20].join(".");
        assert!(matches!(parse_zone(&long), Err(ZoneError::TooLong(_))));
        let longest_ok = vec!["abcdefghi"; 20].join(".");
        let zone = Zone::new(parse_zone(&longest_ok).unwrap(), None, None, 1, None).unwrap();
        let v6: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        assert!(zone.node_name(v6).is_some(), "the longest node name fits");
        assert!(apex_capacity(&zone, RecordType::A) >= 1);
        assert_eq!(
            parse_zone("Seed.Devnet.Ferro").unwrap().to_ascii(),
            "seed.devnet.ferro."
        );
    }
}

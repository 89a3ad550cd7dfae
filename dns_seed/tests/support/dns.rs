//! A small DNS client for the in-process tests: queries built and answers parsed with
//! hickory-proto, sent over UDP (from a chosen loopback address, to act as another
//! source) or TCP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long a test waits for one DNS answer before calling it dropped.
pub const ANSWER_WAIT: Duration = Duration::from_millis(700);

/// The wire form of a query for `name`/`qtype`, with an EDNS size when given.
pub fn query(id: u16, name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        message.set_edns(edns);
    }
    message.to_vec().unwrap()
}

/// Sends `packet` from `from` (port 0) and returns the first datagram back, if any
/// arrives within [`ANSWER_WAIT`].
pub async fn udp_exchange(from: IpAddr, server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind(SocketAddr::new(from, 0)).await.unwrap();
    socket.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(ANSWER_WAIT, socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// One UDP query; the parsed answer, or `None` if none came.
pub async fn ask_udp(
    from: IpAddr,
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
) -> Option<Message> {
    let bytes = udp_exchange(from, server, &query(1, name, qtype, Some(1232))).await?;
    Some(Message::from_vec(&bytes).expect("the answer decodes"))
}

/// Sends `packet` length-prefixed on `stream` and reads one length-prefixed answer.
pub async fn tcp_exchange(stream: &mut TcpStream, packet: &[u8]) -> Option<Vec<u8>> {
    let length = u16::try_from(packet.len()).unwrap().to_be_bytes();
    stream.write_all(&length).await.ok()?;
    stream.write_all(packet).await.ok()?;
    let mut prefix = [0u8; 2];
    tokio::time::timeout(ANSWER_WAIT * 4, stream.read_exact(&mut prefix))
        .await
        .ok()?
        .ok()?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    tokio::time::timeout(ANSWER_WAIT * 4, stream.read_exact(&mut answer))
        .await
        .ok()?
        .ok()?;
    Some(answer)
}

/// One TCP query on a fresh connection.
pub async fn ask_tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Option<Message> {
    let mut stream = TcpStream::connect(server).await.ok()?;
    let bytes = tcp_exchange(&mut stream, &query(2, name, qtype, None)).await?;
    Some(Message::from_vec(&bytes).expect("the answer decodes"))
}

/// Whether the server closed `stream` (or it failed) within `wait`.
pub async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

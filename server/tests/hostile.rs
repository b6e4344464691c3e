//! Hostile clients over real sockets: oversized frames, garbage, a flood of messages and
//! thousands of idle connections. Each case checks that the offender is refused or dropped,
//! that the server stays up, and that a well-behaved viewer keeps getting its deltas.

mod common;

use common::Running;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use renewtwin_protocol::{ClientHello, ClientMsg, PROTOCOL_VERSION, ServerMsg};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start() -> Running {
    common::start(common::default_scene(), 20.0).await
}

fn encode(msg: &ClientMsg) -> Message {
    Message::Binary(renewtwin_protocol::encode(msg).expect("encode").into())
}

/// A viewer that says hello (without geometry, to keep thousands of them cheap).
async fn viewer(addr: std::net::SocketAddr) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.expect("websocket connects");
    let hello = ClientHello { min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume: None, geometry: false };
    ws.send(encode(&ClientMsg::Hello(hello))).await.expect("send hello");
    ws
}

/// The next server message, or `None` when the server closed the connection.
async fn next(ws: &mut Ws) -> Option<ServerMsg> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.expect("a frame or a close in time");
        match frame {
            Some(Ok(Message::Binary(bytes))) => return Some(renewtwin_protocol::decode(&bytes).expect("a valid server frame")),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Reads until `n` deltas with increasing sequence numbers arrived.
async fn gets_deltas(ws: &mut Ws, n: usize) {
    let mut seqs = Vec::new();
    while seqs.len() < n {
        match next(ws).await {
            Some(ServerMsg::State(d)) => seqs.push(d.seq),
            Some(_) => {}
            None => panic!("the well-behaved viewer was disconnected"),
        }
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "deltas in order: {seqs:?}");
}

/// Error codes the server sent before closing the connection.
async fn errors_until_closed(ws: &mut Ws) -> Vec<String> {
    let mut codes = Vec::new();
    while let Some(msg) = next(ws).await {
        if let ServerMsg::Error { code, .. } = msg {
            codes.push(code);
        }
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_only_the_connection_that_sent_it() {
    let server = start().await;
    let mut good = viewer(server.addr).await;
    let mut bad = viewer(server.addr).await;
    // 1 MiB, sixteen times the client frame limit. The server may close before it has read it
    // all, so the send itself may fail.
    let _sent = bad.send(Message::Binary(vec![0u8; 1 << 20].into())).await;
    let mut closed = false;
    while !closed {
        closed = next(&mut bad).await.is_none();
    }
    gets_deltas(&mut good, 5).await;
    let mut fresh = viewer(server.addr).await;
    assert!(matches!(next(&mut fresh).await, Some(ServerMsg::Hello { .. })), "the server is still up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_floods_end_only_the_offending_sessions() {
    let server = start().await;
    let mut good = viewer(server.addr).await;

    let mut garbage = viewer(server.addr).await;
    for i in 0..20u8 {
        // Later sends may fail once the server has hung up.
        let _sent = garbage.send(Message::Binary(vec![0xff, i, 0xfe, 0x00, 0x13].into())).await;
    }
    let codes = errors_until_closed(&mut garbage).await;
    assert!(codes.iter().any(|c| c == "bad_frame"), "{codes:?}");
    assert_eq!(codes.last().map(String::as_str), Some("too_many_bad_frames"), "{codes:?}");

    let mut flood = viewer(server.addr).await;
    for n in 0..5_000u64 {
        if flood.feed(encode(&ClientMsg::Ping(n))).await.is_err() {
            break;
        }
    }
    let _flushed = flood.flush().await;
    let mut codes = Vec::new();
    let mut pongs = 0;
    while let Some(msg) = next(&mut flood).await {
        match msg {
            ServerMsg::Error { code, .. } => codes.push(code),
            ServerMsg::Pong(_) => pongs += 1,
            _ => {}
        }
    }
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    assert_eq!(codes.last().map(String::as_str), Some("flooding"));
    assert!(pongs < 5_000, "most of the flood was dropped, {pongs} answered");

    gets_deltas(&mut good, 5).await;
    good.send(encode(&ClientMsg::Ping(42))).await.expect("the good viewer can still talk");
    loop {
        match next(&mut good).await {
            Some(ServerMsg::Pong(42)) => break,
            Some(_) => {}
            None => panic!("the good viewer was dropped"),
        }
    }
}

/// The soft limit on open files, from /proc (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_do_not_keep_another_viewer_from_its_deltas() {
    const IDLE_SOCKETS: usize = 1_000;
    const IDLE_VIEWERS: usize = 1_000;
    // Each connection is two descriptors in this process (client and server ends).
    let needed = 2 * (IDLE_SOCKETS + IDLE_VIEWERS) as u64 + 200;
    let limit = open_file_limit().unwrap_or(u64::MAX);
    assert!(limit >= needed, "this test needs {needed} open files; the soft limit is {limit} (raise it with ulimit -n)");

    let server = start().await;
    let mut good = viewer(server.addr).await;
    // Plain TCP connections that never finish (or start) their HTTP request.
    let mut sockets = Vec::with_capacity(IDLE_SOCKETS);
    for i in 0..IDLE_SOCKETS {
        let mut s = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
        if i % 2 == 0 {
            s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n").await.expect("a partial request");
        }
        sockets.push(s);
    }
    // Upgraded viewers that never read a single frame.
    let mut idle = Vec::with_capacity(IDLE_VIEWERS);
    for _ in 0..IDLE_VIEWERS {
        idle.push(viewer(server.addr).await);
    }
    gets_deltas(&mut good, 20).await;

    let mut fresh = viewer(server.addr).await;
    assert!(matches!(next(&mut fresh).await, Some(ServerMsg::Hello { .. })), "new viewers are still served");
    assert!(matches!(next(&mut fresh).await, Some(ServerMsg::Scene(_))));
    drop(sockets);
    drop(idle);
    gets_deltas(&mut good, 5).await;
}

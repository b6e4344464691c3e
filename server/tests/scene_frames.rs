//! Cacheable geometry: the scene's mesh frames over plain HTTP, addressed by the scene's
//! content hash, with an `ETag` and immutable `Cache-Control` a reverse proxy or CDN can keep,
//! and 304 on `If-None-Match`. The default scene through the real generator and importer,
//! served on port 0; requests written by hand so the test sees the headers on the wire.

mod common;

use std::time::Duration;

use renewtwin_protocol::ServerMsg;

/// `GET path` with the extra header lines `extra`: status, lower-cased header block, body.
async fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.expect("write request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read response");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status line");
    (status, head, response[split + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')).map(str::trim))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scene_frames_are_served_by_content_hash_with_immutable_cache_headers_and_304() {
    let server = common::start(common::default_scene(), 0.0).await;
    let scene = server.state.scene.clone();
    assert!(!scene.mesh_frames.is_empty(), "the default scene has geometry");
    let hash = scene.scene_hash.to_string();
    assert_eq!(hash.len(), 32, "the 128-bit content hash in hex: {hash}");

    for (n, frame) in scene.mesh_frames.iter().enumerate() {
        let path = format!("/api/scene/{hash}/frames/{n}");
        let (status, head, body) = get(server.addr, &path, "").await;
        assert_eq!(status, 200, "{path}: {head}");
        // The very bytes /ws sends for this batch: a Meshes message.
        assert_eq!(body, frame.as_ref(), "{path}: the frame's bytes");
        assert!(matches!(renewtwin_protocol::decode::<ServerMsg>(&body).expect("decodes"), ServerMsg::Meshes { .. }));
        assert_eq!(header(&head, "cache-control"), Some("public, max-age=31536000, immutable"), "{head}");
        assert_eq!(header(&head, "content-type"), Some("application/octet-stream"), "{head}");
        let etag = header(&head, "etag").expect("an etag").to_owned();
        assert_eq!(etag, format!("\"{hash}-{n}\""));

        // Revalidation with the tag: 304, no body, the same cache headers.
        let (status, head304, body) = get(server.addr, &path, &format!("If-None-Match: {etag}\r\n")).await;
        assert_eq!(status, 304, "{head304}");
        assert!(body.is_empty(), "a 304 has no body");
        assert_eq!(header(&head304, "etag"), Some(etag.as_str()));
        assert_eq!(header(&head304, "cache-control"), Some("public, max-age=31536000, immutable"));

        // A list of tags that includes it (weak form too) is a match; another tag is not.
        let (status, _, _) = get(server.addr, &path, &format!("If-None-Match: \"other\", W/{etag}\r\n")).await;
        assert_eq!(status, 304);
        let (status, _, body) = get(server.addr, &path, "If-None-Match: \"other\"\r\n").await;
        assert_eq!((status, body.len()), (200, frame.len()));
    }

    // Another scene's hash, a frame past the last, a number that is not one: 404, never cached
    // as immutable.
    let other = "0".repeat(32);
    let count = scene.mesh_frames.len();
    for path in [format!("/api/scene/{other}/frames/0"), format!("/api/scene/{hash}/frames/{count}"), format!("/api/scene/{hash}/frames/x")] {
        let (status, head, body) = get(server.addr, &path, "").await;
        assert_eq!(status, 404, "{path}: {head}");
        assert!(header(&head, "cache-control").is_none_or(|c| !c.contains("immutable")), "{path}: {head}");
        let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
        assert!(error["error"].as_str().is_some_and(|e| e.starts_with("unknown_")), "{path}: {error}");
    }
}

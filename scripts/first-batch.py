#!/usr/bin/env python3
"""Cold `renewtwin serve`: time from process start to the first mesh batch on the wire and to
SceneComplete, as one WebSocket viewer that connects as soon as the server listens sees them.

    scripts/first-batch.py --renewtwin target/release/renewtwin [--runs 1] [SCENE_OR_MODEL]

Starts `renewtwin serve SCENE --addr 127.0.0.1:0 --db :memory:` (RENEWTWIN_CACHE_DIR pointed
at a fresh empty folder, so the load is cold), reads the "listening" line, connects to /ws,
sends the protocol-2 hello, and timestamps each server message by its postcard variant (the
first byte of a frame: 0 Hello, 1 Scene, 2 Meshes, 3 SceneComplete). A WebSocket client
written here with the standard library only (no package to install). Prints one JSON line
per run: seconds from spawn to listening, to the first header, to the first Meshes frame,
to the final header and to SceneComplete, the frames counted, and the load average.
"""
import argparse, base64, json, os, socket, struct, subprocess, sys, tempfile, time

HELLO = bytes([2, 2, 2, 0, 1])  # ClientMsg::Hello(ClientHello { 2, 2, None, geometry: true })


def ws_connect(host, port):
    s = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise RuntimeError(f"no upgrade: {head[:200]!r}")
    return s


def send_binary(s, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    return bytes(buf)


def recv_frame(s):
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)


def run(binary, scene):
    cache = tempfile.mkdtemp(prefix="rt-cache-")
    env = dict(os.environ, RENEWTWIN_CACHE_DIR=cache, RUST_LOG=os.environ.get("RUST_LOG", "info"))
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    args = [binary, "serve"] + ([scene] if scene else []) + ["--addr", "127.0.0.1:0", "--db", ":memory:"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        line = proc.stdout.readline()
        t_listen = time.monotonic() - t0
        url = line.strip().removeprefix("renewtwin listening on http://").rstrip("/")
        host, port = url.rsplit(":", 1)
        s = ws_connect(host, int(port))
        send_binary(s, HELLO)
        times = {"listening_s": round(t_listen, 3)}
        headers, frames, first_frame_bytes = 0, 0, None
        while True:
            op, payload = recv_frame(s)
            if op != 2 or not payload:
                continue
            now = round(time.monotonic() - t0, 3)
            kind = payload[0]
            if kind == 1:
                headers += 1
                times.setdefault("first_header_s", now)
                times["last_header_s"] = now
                frames_at_last_header = frames
            elif kind == 2:
                frames += 1
                if "first_meshes_s" not in times:
                    times["first_meshes_s"] = now
                    first_frame_bytes = len(payload)
            elif kind == 3:
                times["scene_complete_s"] = now
                break
        times.update(headers=headers, meshes_frames=frames, provisional_frames=frames_at_last_header if headers > 1 else 0,
                     first_frame_bytes=first_frame_bytes, load_before=round(load_before, 2),
                     load_after=round(os.getloadavg()[0], 2), scene=scene or "default", binary=binary)
        return times
    finally:
        proc.terminate()
        proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--renewtwin", required=True)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("scene", nargs="?")
    a = p.parse_args()
    for _ in range(a.runs):
        print(json.dumps(run(a.renewtwin, a.scene)), flush=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Frame rate and progressive loading of the browser viewer on generated districts.

For each district size: `renewtwin generate district --buildings N`, `renewtwin serve` on it,
headless Chromium (WebGL2 through ANGLE/SwiftShader by default, or WebGPU through SwiftShader
with --backend webgpu) driven over plain W3C WebDriver, wait for `window.renewtwin.ready`, then
time FRAMES forced redraws of the whole scene. Prints one line per size: elements, triangles,
draw calls, frames per second, and the viewer's time to the first drawn triangles and to the
complete scene (performance.now() from the scene header). Measures; asserts nothing.

    scripts/viewer-fps.py --renewtwin target/release/renewtwin --sizes 1,6,25,100,500

Needs /usr/bin/chromium and /usr/bin/chromedriver (shared/BROWSER-AND-GPU.md). Python 3
standard library only.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

COMMON = ["--headless=new", "--no-sandbox", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
BACKENDS = {
    "webgl2": ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
    "webgpu": ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader",
               "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as reply:
        value = json.loads(reply.read())["value"]
    if isinstance(value, dict) and value.get("error"):
        raise RuntimeError(f"webdriver {path}: {value['error']}: {value.get('message')}")
    return value


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def start_server(renewtwin, scene):
    proc = subprocess.Popen([renewtwin, "serve", scene, "--addr", "127.0.0.1:0", "--db", ":memory:", "--speed", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    line = proc.stdout.readline()
    if not line.startswith("renewtwin listening on "):
        kill_group(proc)
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.strip().removeprefix("renewtwin listening on ")


def measure(port, url, flags, frames, ready_timeout, window, query):
    profile = tempfile.mkdtemp(prefix="renewtwin-fps-")
    caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "timeouts": {"script": 600_000},
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": COMMON + flags + [f"--window-size={window}", f"--user-data-dir={profile}"]}}}}
    session = request(port, "POST", "/session", caps)["sessionId"]
    try:
        request(port, "POST", f"/session/{session}/url", {"url": url + (f"?{query}" if query else "")})
        started = time.time()
        status = {}
        while time.time() - started < ready_timeout:
            status = request(port, "POST", f"/session/{session}/execute/sync", {"script": (
                "const r = window.renewtwin; return r ? { ready: r.ready, error: r.error ?? null, backend: r.backend } : {};"),
                "args": []})
            if status.get("error"):
                raise RuntimeError(status["error"])
            if status.get("ready"):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"not ready after {ready_timeout} s: {status}")
        script = (
            "const done = arguments[arguments.length - 1]; const r = window.renewtwin; const n = %d; "
            "const go = () => { const f0 = r.frames, t0 = performance.now(); r.forceFrames(n); "
            "const poll = () => r.frames >= f0 + n ? done({ fps: n * 1000 / (performance.now() - t0), backend: r.backend, "
            "triangles: r.triangles, draws: r.draws, elements: r.elementCount, first: r.firstTrianglesMs - r.sceneStartMs, "
            "complete: r.completeMs - r.sceneStartMs, partialUploads: r.partialUploads, uploadMs: r.uploadMs, lastUploadMs: r.lastUploadMs, "
            "w: innerWidth, h: innerHeight }) : setTimeout(poll, 5); poll(); }; "
            # Two warm-up frames first (shader and buffer set-up are not frame time).
            "const w0 = r.frames; r.forceFrames(2); const warm = () => r.frames >= w0 + 2 ? go() : setTimeout(warm, 5); warm();"
        ) % frames
        return request(port, "POST", f"/session/{session}/execute/async", {"script": script, "args": []})
    finally:
        try:
            request(port, "DELETE", f"/session/{session}", timeout=30)
        except Exception:
            pass
        shutil.rmtree(profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renewtwin", default="target/release/renewtwin")
    parser.add_argument("--sizes", default="1,6,25,100,250,500", help="buildings per district, comma-separated")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="webgl2")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--ready-timeout", type=float, default=600)
    parser.add_argument("--window", default="1280,800", help="browser window size, W,H")
    parser.add_argument("--query", default="", help="page URL query, e.g. progressive=0 (no drawing while streaming)")
    args = parser.parse_args()
    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(path):
            sys.exit(f"{path} is not installed")
    work = tempfile.mkdtemp(prefix="renewtwin-districts-")
    driver_port = free_port()
    driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={driver_port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(200):
            try:
                if request(driver_port, "GET", "/status", timeout=2).get("ready"):
                    break
            except OSError:
                time.sleep(0.1)
        print(f"# {args.backend}, {args.frames} forced frames, window {args.window}, query {args.query!r}; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        print("buildings\telements\ttriangles\tdraws\tcanvas\tfps\tfirst_triangles_ms\tcomplete_ms\tpartial_uploads\tupload_ms\tfinal_upload_ms", flush=True)
        for size in [int(s) for s in args.sizes.split(",") if s]:
            scene = os.path.join(work, f"district-{size}.ifc")
            subprocess.run([args.renewtwin, "generate", "district", "--buildings", str(size), "--out", scene],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            server, url = start_server(args.renewtwin, scene)
            try:
                r = measure(driver_port, url, BACKENDS[args.backend], args.frames, args.ready_timeout, args.window, args.query)
                if r["backend"] != args.backend:
                    raise RuntimeError(f"the viewer runs on {r['backend']}, not {args.backend}")
                print(f"{size}\t{r['elements']}\t{r['triangles']}\t{r['draws']}\t{r['w']}x{r['h']}\t{r['fps']:.2f}\t{r['first']:.0f}\t"
                      f"{r['complete']:.0f}\t{r['partialUploads']}\t{r['uploadMs']:.0f}\t{r['lastUploadMs']:.0f}", flush=True)
            finally:
                kill_group(server)
        print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        kill_group(driver)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

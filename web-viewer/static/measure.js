// Measuring and annotating in the 3D view: distance, height and area between points picked on
// the model (snapped to corners and feature edges by the viewer's `pickPoint`), and a planner's
// text notes pinned to points. They are drawn over the canvas (SVG, following the camera) and
// saved with the viewpoint in the page's link (`#v=…`), so "copy link" shares exactly this
// view with its measurements and notes. Text is always set as text, never as HTML.
//
// Geometry: points are scene-frame metres, Z up. Distance is the length of the segment; height
// is the vertical difference |Δz| (with the horizontal distance beside it); area is the area of
// the polygon through the points (Newell's method: half the length of the sum of the cross
// products of consecutive vertices), exact for planar polygons such as a facade or a roof.

const $ = (id) => document.getElementById(id);
const viewer = () => window.renewtwin;
const SNAP_PX = 10;
/// A press that moves less than this many CSS pixels is a click (as the viewer's own input).
const CLICK_PX = 4;
const SVG = "http://www.w3.org/2000/svg";
/// Most measurements and notes one view keeps (and one link carries).
const MAX_ITEMS = 50;
const MAX_NOTE = 200;

const state = { on: false, mode: "distance", pending: [], items: [], down: null, frame: 0 };

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const len = (v) => Math.hypot(v[0], v[1], v[2]);

/// Distance, height or area of `points` in metres / square metres.
export function measureOf(mode, points) {
  if (mode === "distance") return len(sub(points[1], points[0]));
  if (mode === "height") return Math.abs(points[1][2] - points[0][2]);
  if (mode === "area") {
    const n = [0, 0, 0];
    for (let i = 0; i < points.length; i++) {
      const a = points[i];
      const b = points[(i + 1) % points.length];
      n[0] += a[1] * b[2] - a[2] * b[1];
      n[1] += a[2] * b[0] - a[0] * b[2];
      n[2] += a[0] * b[1] - a[1] * b[0];
    }
    return len(n) / 2;
  }
  return null;
}

/// The points each mode needs (area: at least 3, closed with "finish").
const NEEDS = { distance: 2, height: 2, note: 1 };

function label(item) {
  if (item.mode === "note") return item.text;
  const v = measureOf(item.mode, item.points);
  if (item.mode === "area") return `面积 ${v.toFixed(2)} m²`;
  if (item.mode === "height") {
    const d = sub(item.points[1], item.points[0]);
    return `高差 ${v.toFixed(2)} m · 水平 ${Math.hypot(d[0], d[1]).toFixed(2)} m`;
  }
  return `距离 ${v.toFixed(2)} m`;
}

function addPoint(pick) {
  if (!pick) return;
  state.pending.push(pick.point.map((c) => Math.round(c * 1000) / 1000));
  $("measure-status").textContent = `${state.pending.length} · ${pick.snap === "vertex" ? "角点 corner" : pick.snap === "edge" ? "边 edge" : "面 surface"}`;
  const needs = NEEDS[state.mode];
  if (needs && state.pending.length >= needs) finish();
  draw();
}

/// Ends the measurement being picked (an area needs at least three points).
function finish() {
  const points = state.pending;
  state.pending = [];
  if (state.mode === "area" && points.length < 3) return;
  if (state.items.length >= MAX_ITEMS) return;
  const item = { mode: state.mode, points };
  if (state.mode === "note") item.text = ($("measure-note").value || "").slice(0, MAX_NOTE) || "标注 note";
  state.items.push(item);
  list();
  saveToLink();
}

function list() {
  const ul = $("measure-list");
  ul.replaceChildren(...state.items.map((item, i) => {
    const li = document.createElement("li");
    li.className = `measure-item measure-${item.mode}`;
    const text = document.createElement("span");
    text.textContent = label(item);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small-button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `删除 Remove: ${label(item)}`);
    remove.addEventListener("click", () => { state.items.splice(i, 1); list(); saveToLink(); draw(); });
    li.append(text, remove);
    return li;
  }));
}

/// The overlay: each measurement's segments or outline and its label, at the points' current
/// screen positions; redrawn every frame while the camera may move.
function draw() {
  const svg = $("measure-overlay");
  const r = viewer();
  if (!r || !r.project) return;
  const at = (p) => r.project(p[0], p[1], p[2]);
  const nodes = [];
  const shape = (points, closed, cls) => {
    const xy = points.map(at);
    if (xy.some((p) => p === null)) return null;
    const line = document.createElementNS(SVG, closed ? "polygon" : "polyline");
    line.setAttribute("points", xy.map((p) => p.join(",")).join(" "));
    line.setAttribute("class", cls);
    nodes.push(line);
    for (const p of xy) {
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("cx", p[0]); dot.setAttribute("cy", p[1]); dot.setAttribute("r", 3.5);
      dot.setAttribute("class", "measure-dot");
      nodes.push(dot);
    }
    return xy;
  };
  for (const item of state.items) {
    const xy = shape(item.points, item.mode === "area", `measure-shape measure-${item.mode}`);
    if (!xy) continue;
    const cx = xy.reduce((s, p) => s + p[0], 0) / xy.length;
    const cy = xy.reduce((s, p) => s + p[1], 0) / xy.length;
    const text = document.createElementNS(SVG, "text");
    text.setAttribute("x", cx + 6); text.setAttribute("y", cy - 6);
    text.setAttribute("class", "measure-label");
    text.textContent = label(item);
    nodes.push(text);
  }
  if (state.pending.length) shape(state.pending, false, "measure-shape measure-pending");
  if (nodes.length === 0 && svg.childElementCount === 0) return;
  svg.replaceChildren(...nodes);
  svg.dataset.items = String(state.items.length);
}

function loop() {
  draw();
  state.frame = requestAnimationFrame(loop);
}

// ------------------------------------------------------------------------------------------
// The link: the camera with the measurements and notes.
function encode() {
  const cam = viewer().camera();
  const round = (p) => p.map((c) => Math.round(c * 1000) / 1000);
  return JSON.stringify({ eye: round(cam.eye), target: round(cam.target), items: state.items });
}

function saveToLink() {
  const hash = `#v=${encodeURIComponent(encode())}`;
  history.replaceState(null, "", hash);
  $("measure-link").value = location.href;
}

/// Restores a view saved in the link, checking every field (a link is anyone's input).
function restore(hash) {
  const m = /^#v=(.+)$/.exec(hash || "");
  if (!m) return false;
  let saved;
  try { saved = JSON.parse(decodeURIComponent(m[1])); } catch { return false; }
  const point = (p) => Array.isArray(p) && p.length === 3 && p.every((c) => typeof c === "number" && Number.isFinite(c));
  if (point(saved.eye) && point(saved.target)) viewer().flyTo(saved.eye, saved.target, false);
  const modes = ["distance", "height", "area", "note"];
  state.items = (Array.isArray(saved.items) ? saved.items : []).slice(0, MAX_ITEMS).filter((it) =>
    it && modes.includes(it.mode) && Array.isArray(it.points) && it.points.length >= 1 && it.points.length <= 64 && it.points.every(point)
    && (it.mode !== "note" || typeof it.text === "string")
    && (it.mode !== "area" || it.points.length >= 3) && (!["distance", "height"].includes(it.mode) || it.points.length === 2),
  ).map((it) => (it.mode === "note" ? { mode: "note", points: [it.points[0]], text: it.text.slice(0, MAX_NOTE) } : { mode: it.mode, points: it.points }));
  list();
  return true;
}

// ------------------------------------------------------------------------------------------
function setOn(on) {
  state.on = on;
  $("measure-panel").hidden = !on;
  $("btn-measure").setAttribute("aria-expanded", String(on));
  document.body.dataset.measuring = on ? "true" : "false";
  if (!on) { state.pending = []; draw(); }
}

function setMode(mode) {
  state.mode = mode;
  state.pending = [];
  for (const b of document.querySelectorAll("#measure-modes [data-mode]")) b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
  $("measure-finish").hidden = mode !== "area";
  $("measure-note-label").hidden = mode !== "note";
  draw();
}

async function main() {
  await new Promise((resolve) => {
    const check = () => (viewer() && viewer().ready && viewer().pickPoint ? resolve() : setTimeout(check, 100));
    check();
  });
  const canvas = $("viewer");
  // A click on the model while measuring adds a point; a drag still orbits.
  canvas.addEventListener("pointerdown", (e) => { state.down = e.isPrimary ? [e.clientX, e.clientY] : null; });
  canvas.addEventListener("pointerup", (e) => {
    if (!state.on || !state.down || e.button !== 0) return;
    const moved = Math.hypot(e.clientX - state.down[0], e.clientY - state.down[1]);
    state.down = null;
    if (moved >= CLICK_PX) return;
    const box = canvas.getBoundingClientRect();
    addPoint(viewer().pickPoint(e.clientX - box.left, e.clientY - box.top, SNAP_PX));
    // A measuring click picks a point, not an element: no inspect panel over the model.
    viewer().select(-1);
  });
  $("btn-measure").addEventListener("click", () => setOn(!state.on));
  for (const b of document.querySelectorAll("#measure-modes [data-mode]")) b.addEventListener("click", () => setMode(b.dataset.mode));
  $("measure-finish").addEventListener("click", () => { finish(); draw(); });
  $("measure-clear").addEventListener("click", () => { state.items = []; state.pending = []; list(); saveToLink(); draw(); });
  $("measure-copy").addEventListener("click", async () => {
    saveToLink();
    $("measure-link").select();
    try { await navigator.clipboard.writeText(location.href); $("measure-status").textContent = "已复制 · copied"; } catch { /* the link stays selected in the field */ }
  });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.on && state.pending.length) { state.pending = []; draw(); } });
  setMode("distance");
  if (restore(location.hash)) setOn(true);
  $("measure-link").value = location.href;
  loop();
  document.body.dataset.measure = "ready";
  // What is measured, for the browser test.
  window.renewtwinMeasure = { items: () => state.items.map((it) => ({ ...it, value: measureOf(it.mode, it.points) })) };
}

main().catch((e) => console.error(e));

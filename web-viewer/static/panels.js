// The viewer's panels: toolbar, timeline, colour layers (with a colour-blind-safe palette),
// comparison, spatial tree, search, the element panel's details, the exhibition tour, the phone
// layout's bottom sheet and the keyboard controls of the 3D view. Plain DOM over the canvas; everything it does
// to the 3D view goes through the wasm viewer's functions on `window.renewtwin` (see
// web-viewer/src/controls.rs), and everything it knows comes from the server's /api.
// Text from the server is always set as text, never as HTML.

import { approvalRows, scheduleChart, taskRows } from "./schedule.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const api = async (path, init) => {
  const response = await fetch(path, init);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response;
};
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
};
const viewer = () => window.renewtwin;
const whenReady = () => new Promise((resolve) => {
  const check = () => (viewer() && viewer().ready ? resolve(viewer()) : setTimeout(check, 100));
  check();
});

// ------------------------------------------------------------------------------------------
// State shared by the panels.
const state = {
  planStart: null, planEnd: 0, scenarios: [], viewpoints: [],
  live: true, day: 0, playing: null, colourBy: "state", compare: "off", layout: "swipe",
  // The designs the "design variants" comparison offers (null: every one of the scene), as
  // keys: "existing", "base" or a scenario's name. A consultation's ballot narrows it to the
  // alternatives its question offers.
  offeredDesigns: null,
  lang: params.get("lang") === "en" ? "en" : "zh", tourIndex: 0, tourTimer: null,
  tree: null, hiddenNodes: new Set(), isolated: null,
  safePalette: params.get("palette") === "safe" || (params.get("palette") !== "default" && localStorage.getItem("renewtwin.palette") === "safe"),
};

const dateOf = (day) => {
  if (!state.planStart) return `day ${day}`;
  const [y, m, d] = state.planStart.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1, d + day));
  return date.toISOString().slice(0, 10);
};

// ------------------------------------------------------------------------------------------
// Timeline: a per-client day (from /api/states) or the live shared clock.
async function statesFor(day, scenario) {
  const query = new URLSearchParams({ day: String(day) });
  if (scenario) query.set("scenario", scenario);
  return new Uint8Array(await (await api(`/api/states?${query}`)).arrayBuffer());
}

async function showDay(day) {
  state.live = false;
  state.day = day;
  $("tl-live").setAttribute("aria-pressed", "false");
  $("tl-slider").value = String(day);
  $("tl-date").textContent = dateOf(day);
  viewer().setStates(await statesFor(day, null), day);
  await refreshCompare();
  await refreshLayer();
  $("timeline").dataset.shownDay = String(day);
  scheduleShows(dateOf(day));
}

function goLive() {
  state.live = true;
  stopPlaying();
  $("tl-live").setAttribute("aria-pressed", "true");
  viewer().setStates(null, 0);
  $("timeline").dataset.shownDay = "live";
  refreshCompare();
  refreshLayer();
}

function stopPlaying() {
  if (state.playing) clearInterval(state.playing);
  state.playing = null;
  $("tl-play").setAttribute("aria-pressed", "false");
}

function togglePlay() {
  if (state.playing) return stopPlaying();
  $("tl-play").setAttribute("aria-pressed", "true");
  let busy = false;
  state.playing = setInterval(async () => {
    if (busy) return;
    busy = true;
    const next = state.live ? Number(viewer().day || 0) : state.day + 3;
    try { await showDay(next > state.planEnd ? 0 : next); } finally { busy = false; }
  }, 300);
}

/// The signed-in session (the consultation panel's), if any.
const sessionToken = () => sessionStorage.getItem("renewtwin.token");

/// A shared-clock command: POST /api/clock with the signed-in account's credential (government
/// may control the clock from anywhere); without one, only the server's own machine may.
async function clock(command) {
  const out = $("clock-result");
  const headers = { "content-type": "application/json" };
  if (sessionToken()) headers.authorization = `Bearer ${sessionToken()}`;
  try {
    await api("/api/clock", { method: "POST", headers, body: JSON.stringify(command) });
    out.textContent = "✓";
  } catch (e) {
    out.textContent = "需政府账户或本机操作员 · government account or local operator only";
  }
}

// ------------------------------------------------------------------------------------------
// The schedule under the timeline: the plan's tasks, planned beside actual (recorded
// progress), the approvals with their time limits (overdue flagged) for accounts that may read
// them, and today (the real date) apart from the simulated date shown.
const schedule = { chart: null, generation: 0 };

async function refreshSchedule() {
  const generation = ++schedule.generation;
  const progress = await (await api("/api/progress")).json();
  let approvals = [];
  if (sessionToken()) {
    // Government, authorities and evaluators read the approvals; others are refused: no track.
    const r = await fetch("/api/approvals", { headers: { authorization: `Bearer ${sessionToken()}` } });
    if (r.ok) approvals = approvalRows(await r.json());
  }
  if (generation !== schedule.generation) return;
  const shown = state.live ? progress.simulated_date : dateOf(state.day);
  const chart = scheduleChart({
    rows: taskRows(progress), approvals, today: progress.today_date, simulated: shown,
    range: [progress.plan_start, progress.plan_end], lang: state.lang,
  });
  const body = $("tl-schedule-body");
  body.replaceChildren(chart);
  schedule.chart = chart;
  $("tl-today").textContent = progress.today_date;
  $("tl-schedule").dataset.ready = "true";
}

/// Moves the simulated mark to the day the timeline shows.
function scheduleShows(date) {
  if (schedule.chart && date) schedule.chart.moveSimulated(date);
}

// ------------------------------------------------------------------------------------------
// Colour layers and their legend.

// The colour-blind-safe palettes, by layer and legend key (or index for the phases). Ordered
// bands (risk grades, noise) take ColorBrewer's RdYlBu, marked safe for colour-blind viewers
// (Brewer, colorbrewer2.org); categories (phases) take the Okabe–Ito set (Okabe & Ito 2008,
// "Color Universal Design"), its black swapped for a dark brown that shading cannot turn into
// the background. The lifecycle colours are Okabe–Ito already (protocol/src/lifecycle.rs), so
// the switch leaves them. The browser test checks every pair, "no data" grey included, stays
// apart under simulated protanopia, deuteranopia and tritanopia.
const SAFE_PALETTES = {
  phase: [[230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66], [0, 114, 178], [213, 94, 0], [102, 37, 6]],
  risk: { a: [44, 123, 182], b: [171, 217, 233], c: [253, 174, 97], d: [215, 25, 28], heritage: [84, 39, 136] },
  noise: { quiet: [44, 123, 182], moderate: [171, 217, 233], near_limit: [253, 174, 97], above_limit: [215, 25, 28] },
  sunlight: { meets: [44, 123, 182], below: [253, 174, 97], taken_below: [215, 25, 28] },
  disruption: { undisrupted: [44, 123, 182], trips: [171, 217, 233], works_at_home: [253, 174, 97], accessible_route_lost: [215, 25, 28] },
};

/// The colour of legend entry `index` of `layer`: the server's, or the safe palette's.
function layerColour(layer, entry, index) {
  if (!state.safePalette) return entry.rgb;
  const safe = SAFE_PALETTES[layer];
  const rgb = Array.isArray(safe) ? safe[index] : safe && safe[entry.key];
  return rgb || entry.rgb;
}

function setSafePalette(on) {
  state.safePalette = on;
  try { localStorage.setItem("renewtwin.palette", on ? "safe" : "default"); } catch { /* private mode: not remembered */ }
  $("btn-palette").setAttribute("aria-pressed", String(on));
  document.body.dataset.palette = on ? "safe" : "default";
  return refreshLayer();
}

let layerGeneration = 0;
async function refreshLayer() {
  const legend = $("layer-legend");
  const generation = ++layerGeneration;
  if (state.colourBy === "state") {
    viewer().setLayer(null, null);
    legend.hidden = true;
    $("legend").hidden = false;
    return;
  }
  const query = new URLSearchParams({ name: state.colourBy });
  if (!state.live) query.set("day", String(state.day));
  const layer = await (await api(`/api/viewer/layer?${query}`)).json();
  // A newer choice (layer, day or palette) superseded this one while it fetched.
  if (generation !== layerGeneration) return;
  const colours = layer.legend.map((e, i) => layerColour(state.colourBy, e, i));
  viewer().setLayer(new Uint8Array(layer.values), colours.flat());
  legend.replaceChildren(...layer.legend.map((e, i) => el("li", { "data-key": e.key },
    el("span", { class: "swatch", style: `background: rgb(${colours[i].join(" ")})`, "aria-hidden": "true" }),
    el("span", { class: "zh", text: e.zh }), el("span", { class: "en", lang: "en", text: e.en }))));
  legend.append(el("li", { "data-key": "none" }, el("span", { class: "swatch", style: "background: rgb(176 176 176)", "aria-hidden": "true" }),
    el("span", { class: "zh", text: "无数据" }), el("span", { class: "en", lang: "en", text: "no data" })));
  legend.hidden = false;
  $("legend").hidden = true;
  $("legend-panel").dataset.layer = state.colourBy;
  $("legend-panel").dataset.palette = state.safePalette ? "safe" : "default";
}

// ------------------------------------------------------------------------------------------
// Compare: before/after of the plan, or the base plan against a scenario, on the slider's day.
let compareGeneration = 0;
async function refreshCompare() {
  const mode = state.compare;
  const generation = ++compareGeneration;
  $("compare-layout").hidden = mode === "off";
  $("swipe").hidden = mode === "off" || state.layout !== "swipe";
  $("compare-designs").hidden = mode !== "designs";
  if (mode === "off") {
    viewer().setCompare(null);
    viewer().setLayout("single", 0.5);
    $("compare-labels").hidden = true;
    return;
  }
  const day = state.live ? Number(viewer().day || 0) : state.day;
  let left, right, labels;
  if (mode === "designs") {
    const [a, b] = [$("compare-a").value, $("compare-b").value];
    [left, right] = await Promise.all([designStates(a), designStates(b)]);
    labels = [designLabel(a), designLabel(b)];
  } else if (mode === "before-after") {
    left = await statesFor(0, null);
    right = await statesFor(state.planEnd, null);
    labels = ["改造前 Before", "改造后 After"];
  } else {
    const name = mode.slice("scenario:".length);
    left = await statesFor(day, "base");
    right = await statesFor(day, name);
    labels = ["基准方案 Base plan", `${name}`];
  }
  // A newer request (another mode, layout or day) superseded this one while it fetched.
  if (generation !== compareGeneration) return;
  viewer().setStates(left, mode === "before-after" || mode === "designs" ? 0 : day);
  viewer().setCompare(right);
  viewer().setLayout(state.layout, Number($("swipe").value));
  $("compare-labels").hidden = false;
  $("compare-left").textContent = labels[0];
  $("compare-right").textContent = labels[1];
  $("compare-labels").dataset.designs = mode === "designs" ? `${$("compare-a").value}|${$("compare-b").value}` : "";
}

// ------------------------------------------------------------------------------------------
// Design variants: the district as surveyed ("existing"), the base plan's design and each
// scenario's (its variant models in, what they replace out; see /api/viewer/scenarios), each
// finished: the states on a day long after every plan has ended.
const FINISHED_DAY = 100000;
function designLabel(key) {
  if (key === "existing") return "现状 Existing";
  if (key === "base") return "基准方案 Base plan";
  const s = state.scenarios.find((x) => x.name === key);
  return s ? (s.title || s.name) : key;
}
function designStates(key) {
  if (key === "existing") return statesFor(0, "base");
  return statesFor(FINISHED_DAY, key);
}
/// The designs on offer: every one of the scene, or those a ballot offers.
function designKeys() {
  const all = ["existing", "base", ...state.scenarios.filter((s) => s.variants && s.variants.length).map((s) => s.name)];
  return state.offeredDesigns || all;
}
function fillDesignChoices() {
  const keys = designKeys();
  const variants = keys.filter((k) => k !== "existing");
  for (const [id, pick] of [["compare-a", keys[0]], ["compare-b", variants[variants.length - 1] || keys[keys.length - 1]]]) {
    const select = $(id);
    const keep = keys.includes(select.value) && !state.offeredDesignsChanged ? select.value : pick;
    select.replaceChildren(...keys.map((k) => el("option", { value: k, text: designLabel(k) })));
    select.value = keep;
  }
  state.offeredDesignsChanged = false;
  $("compare-designs").dataset.offered = keys.join("|");
}
/// Compares exactly `alternatives` (a consultation's: "base" or scenario names), side by side.
function compareDesigns(alternatives) {
  state.offeredDesigns = alternatives && alternatives.length >= 2 ? alternatives.slice() : null;
  state.offeredDesignsChanged = true;
  fillDesignChoices();
  if (state.offeredDesigns) {
    $("compare-a").value = state.offeredDesigns[0];
    $("compare-b").value = state.offeredDesigns[1];
  }
  state.compare = "designs";
  $("compare").value = "designs";
  state.layout = "side";
  $("compare-layout").value = "side";
  $("swipe").hidden = true;
  return refreshCompare();
}

// ------------------------------------------------------------------------------------------
// Spatial tree: show, hide, isolate.
function descendants(nodeId) {
  const out = [nodeId];
  for (let i = 0; i < out.length; i++) for (const n of state.tree.nodes) if (n.parent === out[i]) out.push(n.id);
  return out;
}

function applyVisibility() {
  const count = viewer().elementCount;
  const mask = new Uint8Array(count);
  const hiddenNodes = new Set();
  for (const id of state.hiddenNodes) for (const d of descendants(id)) hiddenNodes.add(d);
  let shown = null;
  if (state.isolated !== null) {
    shown = new Set();
    for (const d of descendants(state.isolated)) for (const e of state.tree.nodes[d].elements) shown.add(e);
  }
  for (const n of state.tree.nodes) {
    if (hiddenNodes.has(n.id)) for (const e of n.elements) mask[e] = 1;
  }
  if (shown) for (let e = 0; e < count; e++) if (!shown.has(e)) mask[e] = 1;
  viewer().setHidden(mask.some((b) => b) ? mask : null);
  $("tree").dataset.hiddenCount = String(mask.reduce((a, b) => a + b, 0));
}

function buildTree(tree) {
  state.tree = tree;
  const root = $("tree");
  const children = (parent) => tree.nodes.filter((n) => n.parent === parent && ["project", "site", "building", "storey", "other"].includes(n.kind));
  const render = (node) => {
    const label = `${node.name || node.class}`;
    const box = el("input", { type: "checkbox", checked: "", "aria-label": `显示 Show ${label}`, onchange: (e) => {
      if (e.target.checked) state.hiddenNodes.delete(node.id); else state.hiddenNodes.add(node.id);
      applyVisibility();
    } });
    const isolate = el("button", { class: "small-button", text: "仅此 Isolate", "data-node": String(node.id), onclick: () => {
      state.isolated = state.isolated === node.id ? null : node.id;
      applyVisibility();
    } });
    const li = el("li", { "data-kind": node.kind, "data-node": String(node.id) }, el("label", {}, box, ` ${label}`), " ", isolate);
    const kids = children(node.id);
    if (kids.length) li.append(el("ul", {}, ...kids.map(render)));
    return li;
  };
  root.replaceChildren(...children(null).map(render));
}

// ------------------------------------------------------------------------------------------
// Element details for the inspect panel.
function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(3);
  return String(value);
}

async function showDetails(id) {
  const more = $("info-more");
  more.replaceChildren();
  delete more.dataset.loadedId;
  if (id < 0) return;
  const e = await (await api(`/api/viewer/element/${id}`)).json();
  if (viewer().selected !== id) return;
  $("info-building").textContent = e.building || "—";
  const tasks = el("section", { class: "tasks" }, el("h3", { text: "改造任务 Renewal tasks" }));
  if (e.tasks.length === 0) tasks.append(el("p", { class: "muted", text: "无 · none" }));
  for (const t of e.tasks) {
    const when = t.start_date ? `${t.start_date} → ${t.end_date ?? "…"}` : "未开始 · not scheduled";
    tasks.append(el("p", { class: "task", "data-task": t.id }, el("strong", { text: t.name }),
      el("br"), el("span", { class: "muted", text: `${t.project} · ${t.phase} · ${t.action} · ${when}` })));
  }
  const sections = [tasks];
  if (e.sunlight) sections.push(sunlightSection(e.sunlight));
  const psets = el("section", { class: "psets" }, el("h3", { text: "属性集 Property sets" }));
  for (const set of e.property_sets) {
    const dl = el("dl");
    for (const p of set.properties) dl.append(el("dt", { text: p.name }), el("dd", { text: fmt(p.value) }));
    psets.append(el("details", { "data-pset": set.name }, el("summary", { text: set.name }), dl));
  }
  more.replaceChildren(...sections, psets);
  more.dataset.loadedId = String(id);
}

/// A window's sun on the standard day: before the works, on the day shown, once they are done,
/// against the standard (the rule and its source from the scene).
function sunlightSection(s) {
  const h = (x) => (x === null || x === undefined ? "—" : `${x.toFixed(1)} h`);
  const verdict = {
    meets: "满足标准 · meets the standard",
    below: "低于标准（改造前已低于） · below the standard (already before the works)",
    taken_below: "改造后低于标准 · taken below the standard by the works",
    removed: "窗户被拆除 · the window is removed",
  }[s.verdict] || s.verdict;
  return el("section", { class: `sunlight sunlight-${s.verdict}`, "data-verdict": s.verdict },
    el("h3", { text: `日照 Sunlight · ${s.standard_day} ≥ ${s.min_hours} h` }),
    el("p", { text: `改造前 before ${h(s.before)} · 当日 on the day shown ${h(s.now)} · 改造后 after ${h(s.after)}` }),
    el("p", { class: "sunlight-verdict", text: verdict }),
    el("p", { class: "muted", text: s.source }));
}

// ------------------------------------------------------------------------------------------
// Search by name or GlobalId.
function search(text) {
  const results = $("search-results");
  const ids = text.trim() ? viewer().search(text) : [];
  results.replaceChildren(...ids.map((id) => {
    const info = viewer().elementInfo(id);
    return el("li", { "data-id": String(id) }, el("button", { type: "button", text: `${info.name || info.class} · ${info.globalId}`, onclick: () => {
      viewer().focus(id);
      results.hidden = true;
    } }));
  }));
  results.hidden = ids.length === 0;
}

// ------------------------------------------------------------------------------------------
// Viewpoints and the exhibition tour.
function flyToViewpoint(name, animate = true) {
  const v = state.viewpoints.find((x) => x.name === name);
  if (v) viewer().flyTo(v.eye, v.target, animate);
  return v;
}

function showTourStep(index) {
  const n = state.viewpoints.length;
  if (n === 0) return;
  state.tourIndex = ((index % n) + n) % n;
  const v = state.viewpoints[state.tourIndex];
  flyToViewpoint(v.name);
  const caption = state.lang === "en" ? v.caption_en : v.caption_zh;
  $("tour-caption").textContent = caption;
  $("tour-caption").lang = state.lang === "en" ? "en" : "zh-CN";
  $("tour-step").textContent = `${state.tourIndex + 1} / ${n}`;
  $("tour").dataset.index = String(state.tourIndex);
  $("tour").dataset.viewpoint = v.name;
}

function setLanguage(lang) {
  state.lang = lang;
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
  document.body.dataset.lang = lang;
  $("tour-lang").textContent = lang === "en" ? "中文" : "English";
  $("tour-lang").setAttribute("aria-label", lang === "en" ? "切换到中文" : "Switch to English");
  if (document.body.classList.contains("exhibition")) showTourStep(state.tourIndex);
  if ($("tl-schedule").open) refreshSchedule().catch((err) => console.error(err));
}

// ------------------------------------------------------------------------------------------
// Phones: the toolbar, the timeline and the legend share one bottom sheet; a tab opens one,
// the open one's tab closes it (more of the 3D view). Other layouts show them all.
const phone = window.matchMedia("(max-width: 640px)");

function setSheet(name) {
  document.body.dataset.sheet = name;
  for (const tab of document.querySelectorAll("#sheet-tabs [data-sheet]")) {
    tab.setAttribute("aria-expanded", String(tab.dataset.sheet === name));
  }
}

// ------------------------------------------------------------------------------------------
// The 3D view from the keyboard (the canvas takes the focus with Tab): arrows orbit,
// Shift+arrows pan, + and − zoom, Home frames everything, Enter or Space picks the element at
// the centre, Escape clears the selection.
const ORBIT_STEP = Math.PI / 18;
const PITCH_STEP = Math.PI / 30;

function keyboardCamera(event) {
  const r = viewer();
  if (!r || !r.ready) return;
  const { eye, target } = r.camera();
  const d = [0, 1, 2].map((i) => eye[i] - target[i]);
  const distance = Math.hypot(...d);
  const yaw = Math.atan2(d[1], d[0]);
  const pitch = Math.asin(Math.max(-1, Math.min(1, d[2] / distance)));
  const place = (yawTo, pitchTo, distanceTo, shift = [0, 0, 0]) => {
    const p = Math.max(-1.5, Math.min(1.5, pitchTo));
    const t = target.map((c, i) => c + shift[i]);
    const e = [Math.cos(yawTo) * Math.cos(p), Math.sin(yawTo) * Math.cos(p), Math.sin(p)].map((c, i) => t[i] + c * distanceTo);
    r.flyTo(e, t, false);
  };
  // Screen right and screen "up" along the ground, for panning.
  const right = [-Math.sin(yaw), Math.cos(yaw), 0];
  const ahead = [-Math.cos(yaw), -Math.sin(yaw), 0];
  const step = distance * 0.08;
  const along = (v, k) => v.map((c) => c * k * step);
  switch (event.key) {
    case "ArrowLeft": event.shiftKey ? place(yaw, pitch, distance, along(right, -1)) : place(yaw - ORBIT_STEP, pitch, distance); break;
    case "ArrowRight": event.shiftKey ? place(yaw, pitch, distance, along(right, 1)) : place(yaw + ORBIT_STEP, pitch, distance); break;
    case "ArrowUp": event.shiftKey ? place(yaw, pitch, distance, along(ahead, 1)) : place(yaw, pitch + PITCH_STEP, distance); break;
    case "ArrowDown": event.shiftKey ? place(yaw, pitch, distance, along(ahead, -1)) : place(yaw, pitch - PITCH_STEP, distance); break;
    case "+": case "=": case "PageUp": place(yaw, pitch, distance * 0.8); break;
    case "-": case "_": case "PageDown": place(yaw, pitch, distance / 0.8); break;
    case "Home": r.fit(); break;
    case "Enter": case " ": {
      const box = $("viewer").getBoundingClientRect();
      r.select(r.pick(box.left + box.width / 2, box.top + box.height / 2));
      break;
    }
    case "Escape": r.select(-1); break;
    default: return;
  }
  event.preventDefault();
}

// Escape closes what the focus is in (search results, the tree, the consultation panel) and
// returns the focus to the control that opened it.
function closeOnEscape(event) {
  if (event.key !== "Escape" || event.target === $("viewer")) return;
  const inside = (id) => !$(id).hidden && $(id).contains(document.activeElement);
  if (!$("search-results").hidden && (inside("search-results") || document.activeElement === $("search"))) {
    $("search-results").hidden = true;
    $("search").focus();
  } else if (inside("consult-panel")) {
    $("btn-consult").click();
    $("btn-consult").focus();
  } else if (inside("tree-panel")) {
    $("btn-tree").click();
    $("btn-tree").focus();
  } else {
    return;
  }
  event.preventDefault();
}

function setExhibition(on) {
  document.body.classList.toggle("exhibition", on);
  $("tour").hidden = !on;
  if (state.tourTimer) clearInterval(state.tourTimer);
  state.tourTimer = null;
  if (on) {
    viewer().select(-1);
    showTourStep(state.tourIndex);
    if (params.get("autoplay") !== "0") state.tourTimer = setInterval(() => showTourStep(state.tourIndex + 1), 12000);
  }
}

// ------------------------------------------------------------------------------------------
async function main() {
  const r = await whenReady();
  const [scenarios, viewpoints, tree] = await Promise.all([
    api("/api/viewer/scenarios").then((x) => x.json()),
    api("/api/viewer/viewpoints").then((x) => x.json()),
    api("/api/viewer/tree").then((x) => x.json()),
  ]);
  state.planStart = scenarios.plan_start;
  state.planEnd = scenarios.plan_end;
  state.scenarios = scenarios.scenarios;
  state.viewpoints = viewpoints;
  state.day = Number(r.day || 0);

  const slider = $("tl-slider");
  slider.max = String(state.planEnd);
  slider.value = String(state.day);
  slider.addEventListener("input", () => { stopPlaying(); showDay(Number(slider.value)); });
  $("tl-play").addEventListener("click", togglePlay);
  $("tl-live").addEventListener("click", goLive);
  $("clock-play").addEventListener("click", () => clock("play"));
  $("clock-pause").addEventListener("click", () => clock("pause"));
  setInterval(() => {
    if (!state.live) return;
    slider.value = String(viewer().day || 0);
    $("tl-date").textContent = viewer().date || "—";
    scheduleShows(viewer().date);
  }, 500);
  // Drawn when first opened, then kept fresh (progress is recorded, approvals decided).
  $("tl-schedule").addEventListener("toggle", (e) => { if (e.currentTarget.open) refreshSchedule().catch((err) => console.error(err)); });
  setInterval(() => { if ($("tl-schedule").open) refreshSchedule().catch((err) => console.error(err)); }, 30000);
  window.addEventListener("renewtwin:session", () => { if ($("tl-schedule").open) refreshSchedule().catch((err) => console.error(err)); });

  $("colour-by").addEventListener("change", (e) => { state.colourBy = e.target.value; refreshLayer(); });
  const compare = $("compare");
  for (const s of state.scenarios) compare.append(el("option", { value: `scenario:${s.name}`, text: `对比方案 vs ${s.title || s.name}` }));
  fillDesignChoices();
  for (const id of ["compare-a", "compare-b"]) $(id).addEventListener("change", () => refreshCompare());
  window.addEventListener("renewtwin:compare-designs", (e) => { compareDesigns(e.detail && e.detail.alternatives).catch((err) => console.error(err)); });
  compare.addEventListener("change", (e) => {
    state.compare = e.target.value;
    // Leaving the comparison of a ballot's designs offers every design again.
    if (state.compare !== "designs" && state.offeredDesigns) { state.offeredDesigns = null; state.offeredDesignsChanged = true; fillDesignChoices(); }
    refreshCompare();
    if (state.compare !== "off") return;
    if (state.live) goLive();
    else showDay(state.day);
  });
  $("compare-layout").addEventListener("change", (e) => { state.layout = e.target.value; $("swipe").hidden = state.layout !== "swipe"; refreshCompare(); });
  $("swipe").addEventListener("input", (e) => { if (state.layout === "swipe") viewer().setLayout("swipe", Number(e.target.value)); });

  $("btn-fit").addEventListener("click", () => r.fit());
  const toggle = (id, apply) => $(id).addEventListener("click", (e) => {
    const on = e.currentTarget.getAttribute("aria-pressed") !== "true";
    e.currentTarget.setAttribute("aria-pressed", String(on));
    apply(on);
  });
  toggle("btn-xray", (on) => r.setXray(on));
  toggle("btn-edges", (on) => r.setEdges(on));
  const section = () => r.setSection(Number($("section-axis").value), Number($("section-pos").value));
  $("section-axis").addEventListener("change", section);
  $("section-pos").addEventListener("input", section);
  $("btn-tree").addEventListener("click", (e) => {
    const open = $("tree-panel").hidden;
    $("tree-panel").hidden = !open;
    e.currentTarget.setAttribute("aria-expanded", String(open));
    // On a phone the tree lives in the legend's sheet.
    if (open && phone.matches) setSheet("layers");
  });
  $("tree-show-all").addEventListener("click", () => {
    state.hiddenNodes.clear();
    state.isolated = null;
    for (const box of $("tree").querySelectorAll("input[type=checkbox]")) box.checked = true;
    applyVisibility();
  });
  buildTree(tree);
  $("search").addEventListener("input", (e) => search(e.target.value));

  const select = $("viewpoint");
  for (const v of state.viewpoints) select.append(el("option", { value: v.name, text: v.name }));
  select.addEventListener("change", (e) => flyToViewpoint(e.target.value));
  $("btn-tour").addEventListener("click", () => setExhibition(true));
  $("tour-exit").addEventListener("click", () => setExhibition(false));
  $("tour-next").addEventListener("click", () => showTourStep(state.tourIndex + 1));
  $("tour-prev").addEventListener("click", () => showTourStep(state.tourIndex - 1));
  $("tour-lang").addEventListener("click", () => setLanguage(state.lang === "en" ? "zh" : "en"));
  window.addEventListener("renewtwin:select", (e) => showDetails(e.detail.id).catch((err) => console.error(err)));
  $("btn-palette").addEventListener("click", () => setSafePalette(!state.safePalette));
  $("btn-palette").setAttribute("aria-pressed", String(state.safePalette));
  document.body.dataset.palette = state.safePalette ? "safe" : "default";
  for (const tab of document.querySelectorAll("#sheet-tabs [data-sheet]")) {
    tab.addEventListener("click", () => setSheet(document.body.dataset.sheet === tab.dataset.sheet ? "none" : tab.dataset.sheet));
  }
  setSheet(["tools", "timeline", "layers", "none"].includes(params.get("sheet")) ? params.get("sheet") : "timeline");
  $("viewer").addEventListener("keydown", keyboardCamera);
  document.addEventListener("keydown", closeOnEscape);

  setLanguage(state.lang);
  if (params.get("view")) flyToViewpoint(params.get("view"), false);
  if (params.get("mode") === "exhibition") setExhibition(true);
  document.body.dataset.panels = "ready";
}

main().catch((e) => {
  console.error(e);
  document.body.dataset.panels = "error";
  const banner = $("error");
  banner.textContent = "面板出错 · Panel error: " + e;
  banner.hidden = false;
});

// The "日照 Sunlight" control: a date (the standard day of China's sunlight rule by default,
// 大寒 or 冬至 of the scene's year) and a time of day (true solar time). Switched on, it asks
// GET /api/viewer/sun for the sun over the site then and hands its direction to the renderer
// (`window.renewtwin.setSun`), which draws shadows; the sun below the horizon lights the scene
// as night. Off (the default): the studio light, no shadows.
{
  /// The standard days (GB 50180-2018 城市居住区规划设计标准 §4.0.9: 大寒日 or 冬至日 by climate
  /// zone) come from the server by name: it computes the term's date in the year asked
  /// (twin::sunlight::term_date; 冬至 is 21 or 22 December) and names the scene's own rule, on
  /// whose day the control starts. The date field lets the planner pick any other day.
  let ruleShown = false;

  /// `HH:MM` of minutes since midnight.
  const clock = (minutes) => {
    const m = Math.max(0, Math.min(23 * 60 + 59, Math.round(minutes)));
    return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  };

  let request = 0;

  async function apply() {
    const on = $("sun-on").getAttribute("aria-pressed") === "true";
    const out = $("sun-readout");
    const time = clock(Number($("sun-time").value));
    $("sun-clock").textContent = time;
    const r = viewer();
    if (!on) {
      request++;
      if (r && r.setSun) r.setSun(null);
      out.textContent = "";
      out.dataset.state = "off";
      return;
    }
    const day = $("sun-day").value;
    const typed = $("sun-date").value;
    if (ruleShown && day === "custom" && !typed) return;
    // First the scene's own standard day; then the day picked, in the year of the date shown.
    const year = /^\d{4}-/.test(typed) ? `&year=${typed.slice(0, 4)}` : "";
    const which = !ruleShown ? "date=standard" : day === "custom" ? `date=${encodeURIComponent(typed)}` : `date=${encodeURIComponent(day)}${year}`;
    const mine = ++request;
    try {
      const response = await fetch(`/api/viewer/sun?${which}&time=${encodeURIComponent(time)}`);
      const body = await response.json().catch(() => ({}));
      if (mine !== request) return;
      if (!response.ok) throw new Error(body.message || body.error || String(response.status));
      if (!ruleShown && body.term) {
        $("sun-day").value = body.term;
        ruleShown = true;
      }
      const date = body.date;
      $("sun-date").value = date;
      if (body.rule) {
        $("sun-day").title = `本项目日照标准 · this scene's rule: ${body.rule.name} ≥ ${body.rule.min_hours} h, ${body.rule.from_hour}–${body.rule.to_hour} h (${body.rule.source})`;
      }
      if (r && r.setSun) r.setSun(body.direction);
      const below = body.elevation <= 0;
      out.textContent = below
        ? "太阳在地平线下 · Sun below the horizon"
        : `方位 ${body.azimuth.toFixed(0)}° 高度 ${body.elevation.toFixed(0)}° · azimuth ${body.azimuth.toFixed(0)}°, elevation ${body.elevation.toFixed(0)}°`;
      out.dataset.state = below ? "night" : "sun";
      out.dataset.key = `${date} ${time}`;
    } catch (e) {
      if (mine !== request) return;
      if (r && r.setSun) r.setSun(null);
      out.textContent = `日照不可用 · Sunlight unavailable: ${e.message}`;
      out.dataset.state = "error";
    }
  }

  function sunlightMain() {
    if (!$("sun-on")) return;
    $("sun-on").addEventListener("click", () => {
      const on = $("sun-on").getAttribute("aria-pressed") !== "true";
      $("sun-on").setAttribute("aria-pressed", String(on));
      apply();
    });
    $("sun-day").addEventListener("change", () => { ruleShown = true; apply(); });
    $("sun-date").addEventListener("change", () => {
      $("sun-day").value = "custom";
      apply();
    });
    $("sun-time").addEventListener("input", apply);
    $("sun-clock").textContent = clock(Number($("sun-time").value));
  }

  sunlightMain();
}

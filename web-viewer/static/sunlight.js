// The "日照 Sunlight" control: a date (the standard day of China's sunlight rule by default,
// 大寒 or 冬至 of the scene's year) and a time of day (true solar time). Switched on, it asks
// GET /api/viewer/sun for the sun over the site then and hands its direction to the renderer
// (`window.renewtwin.setSun`), which draws shadows; the sun below the horizon lights the scene
// as night. Off (the default): the studio light, no shadows.

const $ = (id) => document.getElementById(id);
const viewer = () => window.renewtwin;

/// Month and day of the standard days. The solar terms move by a day between years (冬至 is
/// 21 or 22 December); the engine computes them exactly (twin::sunlight::term_date), and the
/// date field lets the planner correct the day. Source of the standard days: GB 50180-2018
/// 城市居住区规划设计标准 §4.0.9 (大寒日 or 冬至日 by climate zone).
export const STANDARD_DAYS = { dahan: "01-20", dongzhi: "12-22" };

/// `HH:MM` of minutes since midnight.
export const clock = (minutes) => {
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
    if (r && r.setSun) r.setSun(null);
    out.textContent = "";
    out.dataset.state = "off";
    return;
  }
  const date = $("sun-date").value;
  if (!date) return;
  const mine = ++request;
  try {
    const response = await fetch(`/api/viewer/sun?date=${encodeURIComponent(date)}&time=${encodeURIComponent(time)}`);
    const body = await response.json().catch(() => ({}));
    if (mine !== request) return;
    if (!response.ok) throw new Error(body.message || body.error || String(response.status));
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

function setDay() {
  const day = $("sun-day").value;
  if (!STANDARD_DAYS[day]) return;
  const scene = viewer() && viewer().date;
  const year = (typeof scene === "string" && /^\d{4}-/.test(scene) ? scene.slice(0, 4) : String(new Date().getFullYear()));
  $("sun-date").value = `${year}-${STANDARD_DAYS[day]}`;
}

function main() {
  if (!$("sun-on")) return;
  setDay();
  $("sun-on").addEventListener("click", () => {
    const on = $("sun-on").getAttribute("aria-pressed") !== "true";
    $("sun-on").setAttribute("aria-pressed", String(on));
    if (on) setDay();
    apply();
  });
  $("sun-day").addEventListener("change", () => { setDay(); apply(); });
  $("sun-date").addEventListener("change", () => {
    $("sun-day").value = "custom";
    apply();
  });
  $("sun-time").addEventListener("input", apply);
  $("sun-clock").textContent = clock(Number($("sun-time").value));
}

main();

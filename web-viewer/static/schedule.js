// A schedule chart: planned and actual bars per task (per building where progress is recorded
// per building), approvals from receipt to their time limit (flagged overdue past it), and two
// marks kept apart: today (the real date) and the simulated date the twin shows. The main
// timeline (panels.js) and the governance panel's progress tab (governance.js) draw it from
// GET /api/progress, and from GET /api/approvals where the signed-in account may read it.
// Every text is set as text, never as HTML.

export const SCHEDULE_TEXT = {
  zh: { planned: "计划", actual: "实际", today: "今天", simulated: "模拟日期", overdueBy: "超期", days: "天", due: "期限", received: "收件", unscheduled: "未排期：等待前置决定" },
  en: { planned: "planned", actual: "actual", today: "today", simulated: "simulated", overdueBy: "overdue by", days: "days", due: "due", received: "received", unscheduled: "not scheduled: waiting for a decision it depends on" },
};

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, or null.
export const epochDay = (date) => (date ? Math.floor(Date.parse(`${date}T00:00:00Z`) / 86400000) : null);

function div(cls, text) {
  const node = document.createElement("div");
  node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/// Rows for the tasks of GET /api/progress: every planned task, with its actual bar from its
/// records (earliest actual start to the latest actual finish once every record of it is
/// finished) and its mean percent; `perBuilding` keeps one row per record instead.
export function taskRows(progress, { perBuilding = false } = {}) {
  const records = progress.records || [];
  if (perBuilding) {
    return records.map((r) => ({
      key: `${r.project}/${r.task}/${r.building || ""}`,
      label: `${r.project} · ${r.task}${r.building ? ` · ${r.building}` : ""}`,
      planned: [r.planned_start, r.planned_finish],
      actual: r.actual_start ? [r.actual_start, r.actual_finish] : null,
      percent: r.percent, delayDays: r.delay_days, note: r.delay_reason,
    }));
  }
  return (progress.tasks || []).map((t) => {
    const mine = records.filter((r) => r.task === t.task && r.project === t.project);
    const starts = mine.map((r) => r.actual_start).filter(Boolean).sort();
    const finishes = mine.map((r) => r.actual_finish);
    const finished = mine.length > 0 && finishes.every(Boolean);
    return {
      key: `${t.project}/${t.task}`,
      label: t.name || t.task,
      planned: [t.planned_start, t.planned_finish],
      actual: starts.length ? [starts[0], finished ? finishes.sort().at(-1) : null] : null,
      percent: mine.length ? Math.round(mine.reduce((s, r) => s + r.percent, 0) / mine.length) : null,
      delayDays: mine.reduce((m, r) => Math.max(m, r.delay_days || 0), 0),
      note: mine.map((r) => r.delay_reason).filter(Boolean).join(" · ") || null,
    };
  });
}

/// Rows for the approvals of GET /api/approvals.
export function approvalRows(answer) {
  return ((answer && answer.approvals) || []).map((a) => ({
    key: `${a.project}/${a.approval}`,
    label: `${a.name} · ${a.authority}`,
    received: a.received_date, due: a.due_date, status: a.status, daysLeft: a.days_left,
  }));
}

/// The chart. `rows` from taskRows, `approvals` from approvalRows; `today` and `simulated` are
/// `YYYY-MM-DD`; `range` ([from, to] dates, optional) is included in the span, so the chart
/// lines up with a slider over the plan. Returns the element; `moveSimulated(date)` on it
/// moves the simulated mark.
export function scheduleChart({ rows = [], approvals = [], today, simulated, range = [], lang = "zh" }) {
  const T = SCHEDULE_TEXT[lang] || SCHEDULE_TEXT.zh;
  const days = [
    ...rows.flatMap((r) => [...(r.planned || []), ...(r.actual || [])]),
    ...approvals.flatMap((a) => [a.received, a.due]),
    ...range, today, simulated,
  ].map(epochDay).filter((d) => d !== null);
  const lo = Math.min(...days);
  const hi = Math.max(...days) + 1;
  const pct = (d) => `${(((Math.min(Math.max(d, lo), hi) - lo) / (hi - lo)) * 100).toFixed(2)}%`;
  const chart = div("sched");
  chart.setAttribute("role", "group");
  const bar = (track, from, to, cls, title) => {
    if (from === null) return null;
    const b = div(`sched-bar ${cls}`);
    b.style.left = pct(from);
    b.style.width = `max(2px, calc(${pct(to ?? epochDay(today))} - ${pct(from)}))`;
    b.title = title;
    track.append(b);
    return b;
  };
  for (const r of rows) {
    const row = div("sched-row sched-task");
    row.dataset.key = r.key;
    const extra = [r.percent !== null && r.percent !== undefined ? `${r.percent}%` : null, r.delayDays ? `+${r.delayDays} ${T.days}` : null].filter(Boolean);
    row.append(div("sched-label", [r.label, ...extra].join(" · ")));
    const track = div("sched-track");
    const [ps, pf] = r.planned || [];
    if (ps) bar(track, epochDay(ps), epochDay(pf), "sched-planned", `${T.planned} ${ps} – ${pf || "—"}`);
    else track.append(div("sched-unscheduled", T.unscheduled));
    if (r.actual) {
      const [as, af] = r.actual;
      bar(track, epochDay(as), epochDay(af), "sched-actual", `${T.actual} ${as} – ${af || "…"}`);
    }
    row.append(track);
    if (r.note) row.append(div("sched-note", r.note));
    chart.append(row);
  }
  for (const a of approvals) {
    const row = div(`sched-row sched-approval sched-status-${a.status}`);
    row.dataset.key = a.key;
    row.append(div("sched-label", a.label));
    const track = div("sched-track");
    bar(track, epochDay(a.received), epochDay(a.due), "sched-window", `${T.received} ${a.received || "—"} · ${T.due} ${a.due || "—"}`);
    if (a.status === "overdue" && a.due) {
      const flag = div("sched-overdue", `⚑ ${T.overdueBy} ${-(a.daysLeft ?? 0)} ${T.days}`);
      flag.style.left = pct(epochDay(a.due));
      track.append(flag);
    }
    row.append(track);
    chart.append(row);
  }
  const mark = (date, cls, label) => {
    const m = div(`sched-mark ${cls}`);
    m.style.left = pct(epochDay(date));
    m.title = `${label} ${date}`;
    m.setAttribute("aria-label", `${label} ${date}`);
    chart.append(m);
    return m;
  };
  if (today) mark(today, "sched-today", T.today);
  const sim = simulated ? mark(simulated, "sched-sim", T.simulated) : null;
  chart.moveSimulated = (date) => {
    if (!sim || !date) return;
    sim.style.left = pct(epochDay(date));
    sim.title = `${T.simulated} ${date}`;
    sim.setAttribute("aria-label", `${T.simulated} ${date}`);
  };
  return chart;
}

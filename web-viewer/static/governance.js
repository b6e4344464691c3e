// Governance in the viewer: an authority's inbox of approvals (days left, overdue) where it
// grants or refuses with a reason; actual progress beside the plan (planned and actual bars,
// "today" apart from the simulated date) with a form for contractors and government; and the
// hash-chained audit log (the public sees it without personal data).
//
// Everything comes from the governance API (/api/approvals, /api/progress, /api/audit; see
// /api/openapi.json). It shares the session of the consultation panel (sessionStorage
// "renewtwin.token"). Text from people is always set with textContent, never as HTML.

import { scheduleChart, taskRows } from "./schedule.js";

const $g = (id) => document.getElementById(id);
const english = new URLSearchParams(location.search).get("lang") === "en";
const T = english
  ? {
      open: "Governance", title: "Governance", approvals: "Approvals", progress: "Progress", audit: "Audit log",
      signIn: "Sign in (Consultation panel) as an authority, government or evaluator to see the approvals.",
      status: { waiting: "waiting", pending: "pending", overdue: "overdue", granted: "granted", deemed_granted: "deemed granted", refused: "refused" },
      due: "due", daysLeft: "days left", overdueBy: "overdue by", days: "days", reason: "Reason", grant: "Grant", refuse: "Refuse",
      planned: "planned", actual: "actual", today: "today", simulated: "simulated", record: "Record progress", project: "Project",
      task: "Task", building: "Building (optional)", start: "Actual start", finish: "Actual finish", percent: "Percent complete",
      delay: "Delay reason", send: "Send", saved: "Saved.", chainOk: "chain intact", chainBroken: "chain broken at entry",
      csv: "Download CSV", none: "Nothing yet.", late: "days late", lead: "lead time", achieved: "achieved", limits: "time limits",
    }
  : {
      open: "治理", title: "治理与审批", approvals: "审批", progress: "进度", audit: "审计日志",
      signIn: "请在“公众参与”面板以审批部门、政府或评估机构账户登录后查看审批。",
      status: { waiting: "待收件", pending: "办理中", overdue: "已超期", granted: "已批准", deemed_granted: "视为批准", refused: "不予批准" },
      due: "期限", daysLeft: "剩余天数", overdueBy: "超期", days: "天", reason: "理由", grant: "批准", refuse: "不予批准",
      planned: "计划", actual: "实际", today: "今天", simulated: "模拟日期", record: "填报进度", project: "项目",
      task: "任务", building: "楼栋（可选）", start: "实际开工", finish: "实际完工", percent: "完成百分比",
      delay: "延误原因", send: "提交", saved: "已提交。", chainOk: "哈希链完整", chainBroken: "哈希链断于第",
      csv: "下载 CSV", none: "暂无。", late: "天（逾期）", lead: "审批时长", achieved: "实际", limits: "时限",
    };

const gov = { tab: "approvals" };

function token() {
  return sessionStorage.getItem("renewtwin.token");
}

async function api(path, init = {}) {
  const headers = { "Content-Type": "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const r = await fetch(path, { ...init, headers });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.message) || `${r.status}`);
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function field(form, label, input) {
  const l = el("label", label);
  l.append(input);
  form.append(l);
  return input;
}

function input(type, name, attrs = {}) {
  const i = document.createElement(type === "textarea" ? "textarea" : "input");
  if (type !== "textarea") i.type = type;
  i.name = name;
  for (const [k, v] of Object.entries(attrs)) i.setAttribute(k, v);
  return i;
}

function render() {
  const panel = $g("gov-panel");
  panel.replaceChildren();
  const head = el("div", null, "gov-head");
  const h = el("h2", T.title);
  h.id = "gov-title";
  head.append(h);
  panel.append(head);
  const tabs = el("div", null, "gov-tabs");
  tabs.setAttribute("role", "tablist");
  for (const key of ["approvals", "progress", "audit"]) {
    const b = el("button", T[key]);
    b.type = "button";
    b.setAttribute("role", "tab");
    b.setAttribute("aria-selected", String(gov.tab === key));
    b.addEventListener("click", () => {
      gov.tab = key;
      render();
    });
    tabs.append(b);
  }
  panel.append(tabs);
  const body = el("div", null, "gov-body");
  body.setAttribute("role", "tabpanel");
  panel.append(body);
  const show = { approvals: showApprovals, progress: showProgress, audit: showAudit }[gov.tab];
  show(body).catch((e) => body.append(el("p", String(e.message || e), "gov-error")));
}

async function showApprovals(body) {
  if (!token()) {
    body.append(el("p", T.signIn));
    return;
  }
  const data = await api("/api/approvals");
  for (const l of data.lead_times) {
    const achieved = l.achieved_days === null ? "—" : `${l.achieved_days} ${T.days}`;
    body.append(el("p", `${l.project} · ${T.lead}: ${T.limits} ${l.parallel_days}–${l.serial_days} ${T.days}, ${T.achieved} ${achieved}`, "gov-lead"));
  }
  const list = el("ul", null, "gov-list");
  for (const a of data.approvals) {
    const li = el("li", null, `gov-approval gov-${a.status}`);
    li.append(el("strong", `${a.name}`), el("div", `${a.project_name} · ${a.authority}`));
    let when = `${T.status[a.status] || a.status}`;
    if (a.due_date) when += ` · ${T.due} ${a.due_date}`;
    if (a.days_left !== null && a.days_left !== undefined) {
      when += a.days_left < 0 ? ` · ${T.overdueBy} ${-a.days_left} ${T.days}` : ` · ${T.daysLeft} ${a.days_left}`;
    }
    if (a.days_late > 0) when += ` · ${a.days_late} ${T.late}`;
    li.append(el("div", when, "gov-when"));
    if (a.reason) li.append(el("div", `${T.reason}: ${a.reason}`));
    if (a.status === "pending" || a.status === "overdue") li.append(decisionForm(a));
    list.append(li);
  }
  if (!data.approvals.length) body.append(el("p", T.none));
  body.append(list);
}

function decisionForm(a) {
  const form = el("form", null, "gov-decide");
  const reason = field(form, T.reason, input("textarea", "reason", { maxlength: "2000", required: "" }));
  const row = el("div", null, "gov-buttons");
  for (const [decision, label] of [["granted", T.grant], ["refused", T.refuse]]) {
    const b = el("button", label);
    b.type = "submit";
    b.value = decision;
    row.append(b);
  }
  form.append(row);
  const out = el("p", null, "gov-out");
  out.setAttribute("role", "status");
  form.append(out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const decision = ev.submitter ? ev.submitter.value : "granted";
    try {
      await api(`/api/approvals/${encodeURIComponent(a.project)}/${encodeURIComponent(a.approval)}`, {
        method: "POST",
        body: JSON.stringify({ decision, reason: reason.value }),
      });
      render();
    } catch (e) {
      out.textContent = String(e.message || e);
    }
  });
  return form;
}

async function showProgress(body) {
  const [data, projects] = await Promise.all([api("/api/progress"), api("/api/projects")]);
  body.append(el("p", `${T.today}: ${projects.today} · ${T.simulated}: ${projects.simulated_date}`, "gov-dates"));
  for (const p of data.projects) {
    const a = p.actual || {};
    body.append(el("p", `${p.name}: ${a.percent_complete ?? 0}%`, "gov-project"));
  }
  // The records as they were reported (per task or per building), planned beside actual.
  body.append(scheduleChart({ rows: taskRows(data, { perBuilding: true }), today: projects.today, simulated: projects.simulated_date, lang: english ? "en" : "zh" }));
  if (!data.records.length) body.append(el("p", T.none));
  if (token()) body.append(progressForm());
}

function progressForm() {
  const form = el("form", null, "gov-record");
  form.append(el("h3", T.record));
  const project = field(form, T.project, input("text", "project", { required: "", maxlength: "64" }));
  const task = field(form, T.task, input("text", "task", { required: "", maxlength: "64" }));
  const building = field(form, T.building, input("text", "building", { maxlength: "64" }));
  const start = field(form, T.start, input("date", "actual_start"));
  const finish = field(form, T.finish, input("date", "actual_finish"));
  const percent = field(form, T.percent, input("number", "percent", { min: "0", max: "100", step: "1", required: "" }));
  const delay = field(form, T.delay, input("text", "delay_reason", { maxlength: "500" }));
  const send = el("button", T.send);
  send.type = "submit";
  form.append(send);
  const out = el("p", null, "gov-out");
  out.setAttribute("role", "status");
  form.append(out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const rec = { project: project.value, task: task.value, percent: Number(percent.value) };
    if (building.value) rec.building = building.value;
    if (start.value) rec.actual_start = start.value;
    if (finish.value) rec.actual_finish = finish.value;
    if (delay.value) rec.delay_reason = delay.value;
    try {
      await api("/api/progress", { method: "POST", body: JSON.stringify(rec) });
      out.textContent = T.saved;
      render();
    } catch (e) {
      out.textContent = String(e.message || e);
    }
  });
  return form;
}

async function showAudit(body) {
  const data = await api("/api/audit?limit=200");
  const chain = data.chain;
  body.append(el("p", chain.intact ? `${T.chainOk} (${chain.entries})` : `${T.chainBroken} ${chain.first_broken}`, chain.intact ? "gov-ok" : "gov-error"));
  const link = el("a", T.csv);
  link.href = "/api/audit.csv";
  body.append(link);
  const list = el("ol", null, "gov-list");
  for (const e of data.entries.slice().reverse()) {
    const li = el("li", null, "gov-entry");
    li.append(el("div", `#${e.seq} ${e.at} · ${e.actor_role} · ${e.action}${e.project ? ` · ${e.project}` : ""} · ${e.subject}`));
    li.append(el("div", JSON.stringify(e.detail), "gov-detail mono"));
    li.append(el("div", e.hash.slice(0, 16), "gov-hash mono"));
    list.append(li);
  }
  body.append(list);
}

const button = $g("btn-gov");
const panel = $g("gov-panel");
if (button && panel) {
  button.textContent = T.open;
  panel.setAttribute("aria-labelledby", "gov-title");
  button.addEventListener("click", () => {
    const open = panel.hidden;
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) render();
  });
  window.renewtwin = Object.assign(window.renewtwin || {}, { governance: { render, state: gov } });
}

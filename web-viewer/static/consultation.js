// Public consultation in the viewer: sign in (or sign up with a household's invitation code),
// comment on the picked element or on the current viewpoint, read and reply to the picked
// element's comments, vote on open consultations with their live public tally, report a problem
// at the picked element (or the centre of the view) with an optional photo, follow my reports,
// read announcements and policies, and the indicators with their CSV.
//
// Everything comes from the consultation API (/api/…, see /api/openapi.json) and, live, from the
// `comments` layer of /ws (ServerMsg::Consultation on /ws?only=comments, PROTOCOL.md). Text from people is always set
// with textContent, never as HTML. zh-CN first, with an English switch.

const $c = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const STRINGS = {
  zh: {
    title: "公众参与", open: "公众参与", close: "关闭", lang: "English",
    tabAccount: "账户", tabComments: "评论", tabVotes: "投票", tabReports: "报告", tabNews: "公告", tabIndicators: "指标",
    signUp: "注册（住户邀请码）", signIn: "登录", signOut: "退出登录", invitation: "邀请码", username: "用户名",
    password: "密码", displayName: "显示名称", phone: "电话（可选，不公开）", signedInAs: "已登录：", public: "未登录（公众）",
    roles: { government: "政府", professional: "专业机构", resident: "住户", public: "公众" },
    pickFirst: "请先在三维视图中点选一个构件。", picked: "所选构件：", anchor: "评论对象",
    anchorElement: "所选构件", anchorView: "当前视点", comment: "发表评论", commentText: "评论内容", reply: "回复",
    send: "发送", noComments: "暂无评论。", showView: "查看视点", latest: "最新动态", hiddenNote: "（已被管理员隐藏）",
    signInToWrite: "登录后可评论、投票和报告问题。", vote: "投票", ballots: "票", myChoice: "（我的选择）",
    tallyAtClose: "无记名投票：计票结果在征询结束时公布。",
    compareDesigns: "对比这些方案", baseDesign: "基准方案",
    tallyBatch: (n, asOf) => `无记名投票：每 ${n} 张选票公布一次计票结果（当前显示截至第 ${asOf} 张）。`,
    noConsultations: "当前没有开放的征询。", closed: "已结束", outcome: "结果",
    category: "类别", description: "问题描述", photo: "照片（可选，JPEG/PNG/WebP，≤ 2 MiB）", report: "提交报告",
    location: "位置：", viewCentre: "视图中心", myReports: "我的报告", noReports: "暂无报告。",
    statuses: { open: "待处理", acknowledged: "已受理", in_progress: "处理中", resolved: "已解决", rejected: "未采纳", closed: "已关闭" },
    categories: {
      structure: "结构", leak: "渗漏", lift: "电梯", pipes: "管道", electrical: "电气", fire_safety: "消防", accessibility: "无障碍",
      noise: "噪声", sanitation: "环境卫生", greenery: "绿化", parking: "停车", construction: "施工", other: "其他",
    },
    announcement: "公告", policy: "政策", noNews: "暂无公告。",
    satisfaction: "满意度", project: "项目", responses: "答卷", meanScore: "平均分（1–5）", satisfiedShare: "满意比例",
    reportTimes: "报告答复时间", reportsTotal: "报告总数", answered: "已答复", medianAnswer: "答复时间中位数（小时）",
    medianClose: "办结时间中位数（小时）", participation: "各楼栋参与率", building: "楼栋", households: "户数",
    participating: "参与户数", rate: "参与率", source: "户数来源", sourceModel: "模型", sourceInvited: "已邀请",
    csv: "下载 CSV", refresh: "刷新", saved: "已提交。", tooBig: "照片超过 2 MiB。",
    withPhoto: "附照片", rate: "对该项目的满意度", scores: ["很不满意", "不满意", "一般", "满意", "很满意"],
  },
  en: {
    title: "Public consultation", open: "Consultation", close: "Close", lang: "中文",
    tabAccount: "Account", tabComments: "Comments", tabVotes: "Votes", tabReports: "Reports", tabNews: "News", tabIndicators: "Indicators",
    signUp: "Sign up (household invitation code)", signIn: "Sign in", signOut: "Sign out", invitation: "Invitation code",
    username: "User name", password: "Password", displayName: "Display name", phone: "Phone (optional, never public)",
    signedInAs: "Signed in as ", public: "Not signed in (public)",
    roles: { government: "government", professional: "professional", resident: "resident", public: "public" },
    pickFirst: "Pick an element in the 3D view first.", picked: "Picked element: ", anchor: "Comment on",
    anchorElement: "the picked element", anchorView: "the current viewpoint", comment: "Comment", commentText: "Your comment",
    reply: "Reply", send: "Send", noComments: "No comments yet.", showView: "Show viewpoint", latest: "Latest",
    hiddenNote: "(hidden by a moderator)", signInToWrite: "Sign in to comment, vote and report problems.", vote: "Vote",
    ballots: "ballots", myChoice: "(my choice)", noConsultations: "No open consultation.", closed: "closed", outcome: "Outcome",
    tallyAtClose: "Secret ballot: the tally is published when the consultation closes.",
    compareDesigns: "Compare these designs", baseDesign: "Base plan",
    tallyBatch: (n, asOf) => `Secret ballot: the tally is published every ${n} ballots (shown: as of ${asOf}).`,
    category: "Category", description: "What is wrong", photo: "Photo (optional, JPEG/PNG/WebP, ≤ 2 MiB)", report: "Report",
    location: "Location: ", viewCentre: "centre of the view", myReports: "My reports", noReports: "No reports yet.",
    statuses: { open: "open", acknowledged: "acknowledged", in_progress: "in progress", resolved: "resolved", rejected: "rejected", closed: "closed" },
    categories: {
      structure: "structure", leak: "leak", lift: "lift", pipes: "pipes", electrical: "electrical", fire_safety: "fire safety",
      accessibility: "accessibility", noise: "noise", sanitation: "sanitation", greenery: "greenery", parking: "parking",
      construction: "construction", other: "other",
    },
    announcement: "Announcement", policy: "Policy", noNews: "No announcements yet.",
    satisfaction: "Satisfaction", project: "Project", responses: "Answers", meanScore: "Mean score (1–5)", satisfiedShare: "Satisfied",
    reportTimes: "Report answer times", reportsTotal: "Reports", answered: "Answered", medianAnswer: "Median hours to answer",
    medianClose: "Median hours to close", participation: "Participation per building", building: "Building", households: "Households",
    participating: "Participating", rate: "Rate", source: "Households from", sourceModel: "model", sourceInvited: "invited",
    csv: "Download CSV", refresh: "Refresh", saved: "Sent.", tooBig: "The photo is over 2 MiB.",
    withPhoto: "photo attached", rate: "Your satisfaction with the project", scores: ["very unsatisfied", "unsatisfied", "neutral", "satisfied", "very satisfied"],
  },
};

const consult = {
  lang: params.get("lang") === "en" ? "en" : "zh",
  token: sessionStorage.getItem("renewtwin.token"),
  me: null,
  tab: "comments",
  selected: null, // { id, globalId, name }
  thread: [], // top-level comments of the selected element, each with .replies
  latest: [],
  consultations: [],
  myBallots: new Map(), // question id -> alternative
  scenarioTitles: new Map(), // scenario name -> title (a choice question's alternatives)
  reports: [],
  news: [],
  socket: null,
  socketGeneration: 0,
};
const t = (key) => STRINGS[consult.lang][key];

/** The fixed alternatives of a consent question (agree, oppose, abstain), in both languages. */
const CONSENT_LABELS = { agree: "同意 agree", oppose: "反对 oppose", abstain: "弃权 abstain" };

/// An element with text children only: props `text` sets textContent, `on…` adds listeners.
function node(tag, props = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") n.textContent = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) n.append(c);
  return n;
}

async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (consult.token) headers.authorization = `Bearer ${consult.token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) {
    const error = new Error((data && data.message) || `${response.status}`);
    error.status = response.status;
    error.code = data && data.error;
    throw error;
  }
  return data;
}

function say(message, isError = false) {
  const line = $c("consult-status");
  line.textContent = message;
  line.dataset.kind = isError ? "error" : "ok";
}

const when = (stamp) => (stamp ? String(stamp).replace("T", " ").slice(0, 16) : "");
const isResident = () => consult.me && consult.me.role === "resident";

// ------------------------------------------------------------------------------------------
// The panel's frame: toggle button, tabs, language.
function buildFrame() {
  const tabs = ["account", "comments", "votes", "reports", "news", "indicators"];
  const tabKey = (name) => `tab${name[0].toUpperCase()}${name.slice(1)}`;
  const bar = node("div", { class: "consult-tabs", role: "tablist", "aria-label": t("title") },
    ...tabs.map((name) => node("button", {
      type: "button", role: "tab", id: `consult-tab-${name}`, "aria-controls": `consult-${name}`,
      "aria-selected": String(consult.tab === name), text: t(tabKey(name)), onclick: () => showTab(name),
    })));
  const panel = $c("consult-panel");
  panel.replaceChildren(
    node("div", { class: "consult-head" },
      node("h2", { id: "consult-title", text: t("title") }),
      node("button", { type: "button", id: "consult-lang", class: "small-button", lang: consult.lang === "zh" ? "en" : "zh-CN",
        text: t("lang"), onclick: () => setConsultLanguage(consult.lang === "zh" ? "en" : "zh") }),
      node("button", { type: "button", id: "consult-close", class: "small-button", "aria-label": t("close"), text: "×",
        onclick: () => togglePanel(false) })),
    bar,
    node("p", { id: "consult-status", role: "status", "aria-live": "polite", class: "muted small" }),
    ...tabs.map((name) => node("section", { id: `consult-${name}`, role: "tabpanel", "aria-labelledby": `consult-tab-${name}`,
      hidden: consult.tab !== name })));
  panel.lang = consult.lang === "en" ? "en" : "zh-CN";
  $c("btn-consult").textContent = t("open");
  renderAll();
}

function showTab(name) {
  consult.tab = name;
  for (const tab of document.querySelectorAll("#consult-panel [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.id === `consult-tab-${name}`));
  }
  for (const section of document.querySelectorAll("#consult-panel [role=tabpanel]")) section.hidden = section.id !== `consult-${name}`;
  $c("consult-panel").dataset.tab = name;
  if (name === "indicators") loadIndicators().catch(fail);
  if (name === "news") loadNews().catch(fail);
}

function togglePanel(open) {
  $c("consult-panel").hidden = !open;
  $c("btn-consult").setAttribute("aria-expanded", String(open));
}

function setConsultLanguage(lang) {
  consult.lang = lang;
  buildFrame();
  showTab(consult.tab);
}

function renderAll() {
  renderAccount();
  renderComments();
  renderVotes();
  renderReports();
  renderNews();
}

const fail = (e) => { console.error(e); say(String(e.message || e), true); };

// ------------------------------------------------------------------------------------------
// Account: sign up with an invitation, sign in, sign out.
function field(name, label, type = "text", extra = {}) {
  const id = `consult-${name}`;
  return node("label", { for: id }, node("span", { text: label }), node("input", { id, name, type, required: !extra.optional, ...extra.attrs }));
}

function renderAccount() {
  const box = $c("consult-account");
  if (!box) return;
  if (consult.me) {
    const who = `${t("signedInAs")}${consult.me.display_name} · ${t("roles")[consult.me.role] || consult.me.role}`;
    box.replaceChildren(node("p", { id: "consult-me", text: who }),
      node("button", { type: "button", id: "consult-signout", text: t("signOut"), onclick: () => signOut().catch(fail) }));
    return;
  }
  const signUp = node("form", { id: "consult-signup-form", "aria-label": t("signUp") },
    node("h3", { text: t("signUp") }),
    field("invitation", t("invitation"), "text", { attrs: { autocomplete: "off" } }),
    field("su-username", t("username"), "text", { attrs: { autocomplete: "username" } }),
    field("su-password", t("password"), "password", { attrs: { autocomplete: "new-password", minlength: "8" } }),
    field("su-name", t("displayName")),
    field("su-phone", t("phone"), "tel", { optional: true }),
    node("button", { type: "submit", text: t("signUp") }));
  signUp.addEventListener("submit", (e) => { e.preventDefault(); signUpWith().catch(fail); });
  const signIn = node("form", { id: "consult-signin-form", "aria-label": t("signIn") },
    node("h3", { text: t("signIn") }),
    field("si-username", t("username"), "text", { attrs: { autocomplete: "username" } }),
    field("si-password", t("password"), "password", { attrs: { autocomplete: "current-password" } }),
    node("button", { type: "submit", text: t("signIn") }));
  signIn.addEventListener("submit", (e) => { e.preventDefault(); signInWith().catch(fail); });
  box.replaceChildren(node("p", { id: "consult-me", text: t("public") }), signUp, signIn);
}

async function signedIn(answer) {
  consult.token = answer.token;
  sessionStorage.setItem("renewtwin.token", answer.token);
  // The other panels (the timeline's schedule, its shared clock) follow the session.
  window.dispatchEvent(new CustomEvent("renewtwin:session"));
  await loadMe();
  connectLive();
  await Promise.all([loadConsultations(), loadReports()]);
  renderAll();
  showTab("comments");
}

async function signUpWith() {
  const phone = $c("consult-su-phone").value.trim();
  const answer = await call("POST", "/api/auth/signup", {
    invitation: $c("consult-invitation").value.trim(), username: $c("consult-su-username").value.trim(),
    password: $c("consult-su-password").value, display_name: $c("consult-su-name").value.trim(), phone: phone || null,
  });
  await signedIn(answer);
  say(t("saved"));
}

async function signInWith() {
  const answer = await call("POST", "/api/auth/login", { username: $c("consult-si-username").value.trim(), password: $c("consult-si-password").value });
  await signedIn(answer);
}

async function signOut() {
  try { await call("POST", "/api/auth/logout"); } finally {
    consult.token = null;
    consult.me = null;
    consult.myBallots.clear();
    sessionStorage.removeItem("renewtwin.token");
    window.dispatchEvent(new CustomEvent("renewtwin:session"));
    connectLive();
    await Promise.all([loadConsultations(), loadReports()]);
    renderAll();
  }
}

async function loadMe() {
  if (!consult.token) { consult.me = null; return; }
  try {
    consult.me = await call("GET", "/api/auth/me");
  } catch (e) {
    if (e.status !== 401) throw e;
    // The session expired: back to a public visitor.
    consult.token = null;
    sessionStorage.removeItem("renewtwin.token");
    consult.me = null;
  }
}

// ------------------------------------------------------------------------------------------
// Comments: the picked element's threads, commenting on it or on the viewpoint, replies.
function currentViewpoint() {
  const r = window.renewtwin;
  const cam = r.camera();
  const direction = cam.target.map((v, i) => v - cam.eye[i]);
  return {
    camera: cam.eye, direction, up: [0, 0, 1], field_of_view: 45,
    aspect_ratio: Math.min(20, Math.max(0.05, innerWidth / Math.max(1, innerHeight))),
    elements: consult.selected ? [consult.selected.globalId] : [],
  };
}

function showViewpoint(v) {
  const target = v.camera.map((c, i) => c + v.direction[i]);
  window.renewtwin.flyTo(v.camera, target, true);
  const picked = v.elements && v.elements[0] ? window.renewtwin.elementIdOf(v.elements[0]) : -1;
  if (picked >= 0) window.renewtwin.select(picked);
}

function commentItem(c, replies) {
  const meta = `${t("roles")[c.author_role] || c.author_role}${c.author_org ? " · " + c.author_org : ""}${c.author_name ? " · " + c.author_name : ""} · ${when(c.created_at)}`;
  const li = node("li", { class: "comment", "data-comment": c.id },
    node("p", { class: "comment-meta muted", text: meta }),
    node("p", { class: "comment-body", text: c.hidden && c.body === undefined ? t("hiddenNote") : c.body }));
  if (c.viewpoint) li.append(node("button", { type: "button", class: "small-button", text: t("showView"), onclick: () => showViewpoint(c.viewpoint) }));
  if (replies) {
    if (replies.length) li.append(node("ul", { class: "replies" }, ...replies.map((r) => commentItem(r, null))));
    if (consult.me) {
      const input = node("input", { type: "text", maxlength: "2000", "aria-label": `${t("reply")} #${c.id}`, class: "reply-input" });
      const form = node("form", { class: "reply-form" }, input, node("button", { type: "submit", class: "small-button", text: t("reply") }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        postComment({ parent: c.id, body: input.value }).then(() => { input.value = ""; }).catch(fail);
      });
      li.append(form);
    }
  }
  return li;
}

function renderComments() {
  const box = $c("consult-comments");
  if (!box) return;
  const parts = [];
  parts.push(node("p", { id: "consult-picked", text: consult.selected
    ? `${t("picked")}${consult.selected.name || consult.selected.globalId} (${consult.selected.globalId})` : t("pickFirst") }));
  const list = node("ul", { id: "consult-thread", class: "comments", "aria-label": t("tabComments") });
  if (consult.selected) {
    if (consult.thread.length === 0) list.append(node("li", { class: "muted", text: t("noComments") }));
    for (const c of consult.thread) list.append(commentItem(c, c.replies || []));
  }
  parts.push(list);
  if (consult.me) {
    const anchor = node("select", { id: "consult-anchor", "aria-label": t("anchor") },
      node("option", { value: "element", text: t("anchorElement") }), node("option", { value: "view", text: t("anchorView") }));
    const form = node("form", { id: "consult-comment-form", "aria-label": t("comment") },
      node("label", { for: "consult-anchor" }, node("span", { text: t("anchor") }), anchor),
      node("label", { for: "consult-comment-text" }, node("span", { text: t("commentText") }),
        node("textarea", { id: "consult-comment-text", rows: "3", maxlength: "2000", required: true })),
      node("button", { type: "submit", id: "consult-comment-send", text: t("send") }));
    form.addEventListener("submit", (e) => { e.preventDefault(); submitComment().catch(fail); });
    parts.push(form);
  } else {
    parts.push(node("p", { class: "muted", text: t("signInToWrite") }));
  }
  parts.push(node("h3", { text: t("latest") }),
    node("ul", { id: "consult-latest", class: "comments" }, ...consult.latest.map((c) => commentItem(c, null))));
  box.replaceChildren(...parts);
}

async function postComment(body) {
  const created = await call("POST", "/api/comments", body);
  say(t("saved"));
  upsertComment(created);
  return created;
}

async function submitComment() {
  const text = $c("consult-comment-text").value;
  const onView = $c("consult-anchor").value === "view";
  if (!onView && !consult.selected) { say(t("pickFirst"), true); return; }
  const body = onView ? { body: text, viewpoint: currentViewpoint() } : { body: text, element: consult.selected.globalId };
  await postComment(body);
  const area = $c("consult-comment-text");
  if (area) area.value = "";
}

async function loadThread() {
  if (!consult.selected) { consult.thread = []; renderComments(); return; }
  const gid = consult.selected.globalId;
  const top = await call("GET", `/api/comments?element=${encodeURIComponent(gid)}`);
  const full = await Promise.all(top.filter((c) => c.parent === null).map((c) => call("GET", `/api/comments/${c.id}`)));
  if (!consult.selected || consult.selected.globalId !== gid) return;
  consult.thread = full;
  renderComments();
}

/// A new or changed comment, from this page or from the live stream.
function upsertComment(c) {
  const gid = consult.selected && consult.selected.globalId;
  if (c.parent === null || c.parent === undefined) {
    const i = consult.thread.findIndex((x) => x.id === c.id);
    if (i >= 0) consult.thread[i] = Object.assign({}, c, { replies: consult.thread[i].replies });
    else if (gid && c.element === gid) consult.thread.push(Object.assign({}, c, { replies: [] }));
  } else {
    const parent = consult.thread.find((x) => x.id === c.parent);
    if (parent) {
      const j = parent.replies.findIndex((x) => x.id === c.id);
      if (j >= 0) parent.replies[j] = c; else parent.replies.push(c);
    }
  }
  const k = consult.latest.findIndex((x) => x.id === c.id);
  if (k >= 0) consult.latest[k] = c; else consult.latest.unshift(c);
  consult.latest.length = Math.min(consult.latest.length, 5);
  renderComments();
}

// ------------------------------------------------------------------------------------------
// Votes: open consultations, one ballot per household per question, live public tally.
async function loadConsultations() {
  consult.consultations = await call("GET", "/api/consultations");
  if (consult.scenarioTitles.size === 0) {
    try {
      const scenes = await call("GET", "/api/viewer/scenarios");
      for (const s of scenes.scenarios || []) consult.scenarioTitles.set(s.name, s.title || s.name);
    } catch (e) { /* titles are a nicety: the names stand */ }
  }
  consult.myBallots.clear();
  if (isResident()) {
    for (const c of consult.consultations) for (const q of c.questions) {
      try {
        const b = await call("GET", `/api/questions/${q.id}/vote`);
        consult.myBallots.set(q.id, b.alternative);
      } catch (e) { if (e.status !== 404) throw e; }
    }
  }
  renderVotes();
}

function renderVotes() {
  const box = $c("consult-votes");
  if (!box) return;
  const list = consult.consultations;
  if (list.length === 0) { box.replaceChildren(node("p", { class: "muted", text: t("noConsultations") })); return; }
  box.replaceChildren(...list.map((c) => {
    const open = c.status === "open";
    const section = node("article", { class: "consultation", "data-consultation": c.id },
      node("h3", { text: `${c.title}${open ? "" : ` (${t("closed")})`}` }),
      node("p", { class: "muted", text: c.description }));
    if (!open && c.outcome) section.append(node("p", { text: `${t("outcome")}: ${c.outcome}` }));
    // A secret ballot's tally moves in batches (or only at the close): say so, so that a voter
    // does not read an unchanged tally as a lost vote.
    const every = c.tally_publication && c.tally_publication.every;
    if (open && c.tally_publication === "close") section.append(node("p", { class: "muted tally-note", text: t("tallyAtClose") }));
    else if (open && every > 1) section.append(node("p", { class: "muted tally-note", text: t("tallyBatch")(every, c.tally_as_of_ballots || 0) }));
    for (const q of c.questions) {
      const mine = consult.myBallots.get(q.id);
      const rows = q.alternatives.map((alt, i) => {
        const n = q.tally[i] || 0;
        const share = q.ballots > 0 ? n / q.ballots : 0;
        const name = q.kind === "consent" ? (CONSENT_LABELS[alt] || alt) : (alt === "base" ? t("baseDesign") : (consult.scenarioTitles.get(alt) || alt));
        const label = `${name}: ${n} ${t("ballots")}${mine === i ? " " + t("myChoice") : ""}`;
        const row = node("li", { "data-alternative": i },
          node("span", { class: "tally-label", text: label }),
          node("meter", { min: "0", max: "1", value: String(share), "aria-label": label }));
        if (open && isResident()) {
          row.append(node("button", { type: "button", class: "small-button vote-button", "aria-pressed": String(mine === i),
            "aria-label": `${t("vote")}: ${alt}`, text: t("vote"), onclick: () => vote(q.id, i).catch(fail) }));
        }
        return row;
      });
      const fieldset = node("fieldset", { "data-question": q.id },
        node("legend", { text: `${q.text} (${q.ballots} ${t("ballots")})` }),
        node("ul", { class: "tally" }, ...rows));
      // A choice between scenarios: compare exactly the designs offered, side by side in the
      // 3D view (panels.js listens), before voting.
      if (q.kind === "choice") {
        fieldset.append(node("button", { type: "button", class: "small-button compare-designs-button", "data-alternatives": q.alternatives.join("|"),
          text: t("compareDesigns"), onclick: () => window.dispatchEvent(new CustomEvent("renewtwin:compare-designs", { detail: { alternatives: q.alternatives.slice() } })) }));
      }
      section.append(fieldset);
    }
    if (isResident()) section.append(ratingForm(c.project));
    return section;
  }));
}

/// A resident's satisfaction with `project`, 1 to 5 (one answer per household, changeable).
function ratingForm(project) {
  const id = `consult-rate-${project}`;
  const score = node("select", { id, "data-project": project },
    ...[5, 4, 3, 2, 1].map((n) => node("option", { value: String(n), text: `${n} · ${t("scores")[n - 1]}` })));
  const form = node("form", { class: "rating-form", "data-project": project },
    node("label", { for: id }, node("span", { text: `${t("rate")} (${project})` }), score),
    node("button", { type: "submit", class: "small-button", text: t("send") }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    call("PUT", `/api/projects/${encodeURIComponent(project)}/satisfaction`, { score: Number(score.value) }).then(() => say(t("saved"))).catch(fail);
  });
  return form;
}

async function vote(question, alternative) {
  const answer = await call("PUT", `/api/questions/${question}/vote`, { alternative });
  consult.myBallots.set(question, alternative);
  upsertConsultation(answer.consultation);
  say(t("saved"));
}

function upsertConsultation(c) {
  const i = consult.consultations.findIndex((x) => x.id === c.id);
  if (i >= 0) consult.consultations[i] = c; else consult.consultations.push(c);
  renderVotes();
}

// ------------------------------------------------------------------------------------------
// Reports: a problem at the picked element (or the centre of the view), my reports' states.
async function loadReports() {
  consult.reports = consult.me ? (await call("GET", "/api/reports")).filter((r) => r.reporter_id === consult.me.id) : [];
  renderReports();
}

function renderReports() {
  const box = $c("consult-reports");
  if (!box) return;
  const parts = [];
  if (consult.me) {
    const where = consult.selected ? `${consult.selected.name || consult.selected.globalId} (${consult.selected.globalId})` : t("viewCentre");
    const categories = node("select", { id: "consult-category", required: true },
      ...Object.entries(t("categories")).map(([key, label]) => node("option", { value: key, text: label })));
    const form = node("form", { id: "consult-report-form", "aria-label": t("report") },
      node("p", { id: "consult-report-where", text: `${t("location")}${where}` }),
      node("label", { for: "consult-category" }, node("span", { text: t("category") }), categories),
      node("label", { for: "consult-report-text" }, node("span", { text: t("description") }),
        node("textarea", { id: "consult-report-text", rows: "3", maxlength: "4000", required: true })),
      node("label", { for: "consult-photo" }, node("span", { text: t("photo") }),
        node("input", { id: "consult-photo", type: "file", accept: "image/jpeg,image/png,image/webp" })),
      node("button", { type: "submit", id: "consult-report-send", text: t("report") }));
    form.addEventListener("submit", (e) => { e.preventDefault(); submitReport().catch(fail); });
    parts.push(form);
  } else {
    parts.push(node("p", { class: "muted", text: t("signInToWrite") }));
  }
  parts.push(node("h3", { text: t("myReports") }));
  const list = node("ul", { id: "consult-my-reports" });
  if (consult.me && consult.reports.length === 0) list.append(node("li", { class: "muted", text: t("noReports") }));
  for (const r of consult.reports) {
    list.append(node("li", { "data-report": r.id, "data-status": r.status },
      node("strong", { class: "report-status", text: t("statuses")[r.status] || r.status }),
      node("span", { text: ` · ${t("categories")[r.category] || r.category} · ${when(r.created_at)}${r.has_photo ? ` · ${t("withPhoto")}` : ""}` }),
      node("p", { class: "report-body", text: r.description ?? t("hiddenNote") })));
  }
  parts.push(list);
  box.replaceChildren(...parts);
}

function readPhoto(file) {
  return new Promise((resolve, reject) => {
    if (file.size > 2 * 1024 * 1024) { reject(new Error(t("tooBig"))); return; }
    const reader = new FileReader();
    reader.onload = () => resolve({ content_type: file.type, data: String(reader.result).split(",", 2)[1] || "" });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function submitReport() {
  const body = { category: $c("consult-category").value, description: $c("consult-report-text").value };
  if (consult.selected) body.element = consult.selected.globalId;
  else body.point = window.renewtwin.camera().target;
  const file = $c("consult-photo").files[0];
  if (file) body.photo = await readPhoto(file);
  const created = await call("POST", "/api/reports", body);
  upsertReport(created);
  $c("consult-report-text").value = "";
  say(t("saved"));
}

function upsertReport(r) {
  if (!consult.me || r.reporter_id !== consult.me.id) return;
  const i = consult.reports.findIndex((x) => x.id === r.id);
  if (i >= 0) consult.reports[i] = r; else consult.reports.unshift(r);
  renderReports();
}

// ------------------------------------------------------------------------------------------
// Announcements and policies.
async function loadNews() {
  consult.news = await call("GET", "/api/announcements");
  renderNews();
}

function renderNews() {
  const box = $c("consult-news");
  if (!box) return;
  if (consult.news.length === 0) { box.replaceChildren(node("p", { class: "muted", text: t("noNews") })); return; }
  box.replaceChildren(node("ul", { id: "consult-news-list" }, ...consult.news.map((a) => node("li", { "data-announcement": a.id, "data-kind": a.kind },
    node("strong", { text: `[${t(a.kind) || a.kind}] ${a.title}` }),
    node("p", { class: "muted", text: `${a.project ? a.project + " · " : ""}${when(a.published_at)}` }),
    node("p", { class: "announcement-body", text: a.body })))));
}

function upsertNews(a) {
  const i = consult.news.findIndex((x) => x.id === a.id);
  if (i >= 0) consult.news[i] = a; else consult.news.unshift(a);
  renderNews();
}

// ------------------------------------------------------------------------------------------
// Indicators: satisfaction, report answer times, participation per building, CSV.
function table(caption, headers, rows, id) {
  return node("table", { id },
    node("caption", { text: caption }),
    node("thead", {}, node("tr", {}, ...headers.map((h) => node("th", { scope: "col", text: h })))),
    node("tbody", {}, ...rows.map((r) => node("tr", {}, ...r.map((v) => node("td", { text: v === null || v === undefined ? "—" : String(v) }))))));
}

async function loadIndicators() {
  const ind = await call("GET", "/api/indicators");
  const pct = (x) => (x === null || x === undefined ? null : `${Math.round(x * 100)}%`);
  const r = ind.reports;
  $c("consult-indicators").replaceChildren(
    table(t("satisfaction"), [t("project"), t("responses"), t("meanScore"), t("satisfiedShare")],
      ind.satisfaction.map((s) => [s.project, s.responses, s.mean_score, pct(s.satisfied_share)]), "consult-ind-satisfaction"),
    table(t("reportTimes"), [t("reportsTotal"), t("answered"), t("medianAnswer"), t("medianClose")],
      [[r.total, r.answered, r.median_hours_to_answer, r.median_hours_to_close]], "consult-ind-reports"),
    table(t("participation"), [t("building"), t("households"), t("participating"), t("rate"), t("source")],
      ind.participation.map((p) => [p.building, p.households, p.participating, pct(p.rate),
        p.households_source === "model" ? t("sourceModel") : p.households_source === "invited" ? t("sourceInvited") : p.households_source]),
      "consult-ind-participation"),
    node("p", {}, node("a", { id: "consult-csv", href: "/api/indicators.csv", download: "indicators.csv", text: t("csv") }), " ",
      node("button", { type: "button", class: "small-button", text: t("refresh"), onclick: () => loadIndicators().catch(fail) })));
}

// ------------------------------------------------------------------------------------------
// Live: the `comments` layer of /ws (events only, as JSON), signed in when there is a token.
function connectLive() {
  const generation = ++consult.socketGeneration;
  if (consult.socket) consult.socket.close();
  // Events only: the viewer beside this panel already has the scene.
  const query = new URLSearchParams({ format: "json", only: "comments" });
  if (consult.token) query.set("token", consult.token);
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?${query}`);
  consult.socket = socket;
  socket.onopen = () => {
    socket.send(JSON.stringify({ Hello: { min_version: 2, max_version: 2, resume: null, geometry: false } }));
  };
  socket.onmessage = (message) => {
    if (typeof message.data !== "string") return;
    let msg;
    try { msg = JSON.parse(message.data); } catch { return; }
    if (msg.Consultation) onEvent(msg.Consultation);
  };
  socket.onclose = () => {
    $c("consult-panel").dataset.live = "closed";
    // Reconnect unless a newer connection replaced this one.
    if (generation === consult.socketGeneration) setTimeout(() => { if (generation === consult.socketGeneration) connectLive(); }, 2000);
  };
  $c("consult-panel").dataset.live = "connecting";
  socket.addEventListener("open", () => { $c("consult-panel").dataset.live = "open"; });
}

function onEvent(event) {
  if (event.kind === "lagged") {
    loadThread().catch(fail);
    loadConsultations().catch(fail);
    loadReports().catch(fail);
    return;
  }
  const record = JSON.parse(event.record);
  if (event.kind === "comment") upsertComment(record);
  else if (event.kind === "consultation") upsertConsultation(record);
  else if (event.kind === "report") upsertReport(record);
  else if (event.kind === "announcement") upsertNews(record);
  const panel = $c("consult-panel");
  panel.dataset.events = String(Number(panel.dataset.events || 0) + 1);
}

// ------------------------------------------------------------------------------------------
function onSelect(id) {
  const info = id >= 0 && window.renewtwin ? window.renewtwin.elementInfo(id) : null;
  consult.selected = info ? { id, globalId: info.globalId, name: info.name || info.class } : null;
  consult.thread = [];
  renderComments();
  renderReports();
  loadThread().catch(fail);
}

async function startConsultation() {
  $c("btn-consult").addEventListener("click", () => togglePanel($c("consult-panel").hidden));
  buildFrame();
  // The viewer dispatches the event while it is busy selecting; ask it about the element after.
  window.addEventListener("renewtwin:select", (e) => setTimeout(() => onSelect(e.detail.id), 0));
  await loadMe();
  connectLive();
  await Promise.all([loadConsultations(), loadReports(), loadNews()]);
  renderAll();
  showTab(consult.tab);
  if (params.get("consult") === "open") togglePanel(true);
  $c("consult-panel").dataset.ready = "true";
}

startConsultation().catch((e) => {
  console.error(e);
  const panel = $c("consult-panel");
  if (panel) panel.dataset.ready = "error";
  say(String(e.message || e), true);
});

// The evaluation room (/evaluation/panels/<id>): one panel's live scoring, review, result and report.
//
// One Socket.IO connection to the "/evaluation" namespace (bidding/evaluation/events.py), authenticated
// with a short-lived bearer token from /session/api-token, fetched again on every (re)connection. On
// each connection the page joins `panel:<id>` and receives "state" (what everyone in the room sees: who
// has submitted, never what; then the aggregate, the flags, the result and the report) and, for a panel
// member, "sheet" (their own scores and flags). The page draws what it receives and never rebuilds the
// state from events; actions go over the same socket and are acknowledged ({ok} or {code, message}).
//
// Loaded as an ES module from /static (our CSP allows no inline script); texts come translated in the
// data-* attributes of #messages.

import { io } from "../vendor/socket.io/socket.io.esm.min.js";

const $ = (id) => document.getElementById(id);
const root = $("evaluation-room");
const ACK_TIMEOUT = 60_000;

function text(key, values = {}) {
  const template = $("messages")?.dataset[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function money(price) {
  if (!price || price.amount === undefined || price.amount === null) return "—";
  const [whole, cents] = String(price.amount).split(".");
  return `${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${cents === undefined ? "" : `.${cents}`} ${price.currency || ""}`;
}

function status(message, kind = "") {
  const node = $("status");
  node.textContent = message;
  node.className = `flash ${kind}`.trim();
  node.hidden = !message;
}

function responses(map) {
  const list = el("dl", { className: "responses" });
  for (const [name, value] of Object.entries(map || {})) list.append(el("dt", { text: name }), el("dd", { text: value }));
  return list;
}

const panel = Number(root?.dataset.panel);
const kind = root?.dataset.kind;
let state = null;
let sheet = null;
let socket = null;

function place(item) {
  return item.label !== undefined && item.bid === undefined
    ? text("bidLabel", { label: item.label })
    : text("bidId", { id: item.bid });
}

function criterionName(id) {
  return state?.criteria.find((c) => c.id === id)?.name ?? String(id);
}

// ---------------------------------------------------------------- drawing

function drawState() {
  $("room-state").textContent = text(state.state);
  $("room-state").dataset.state = state.state;
  const experts = $("experts");
  experts.replaceChildren(
    ...state.experts.map((e) =>
      el("li", { "data-expert": e.expert, "data-submitted": e.submitted ? "yes" : "no" },
        el("strong", { text: text("expert", { n: e.expert }) }), " · ",
        el("span", { text: e.submitted ? text("hasSubmitted") : text("notYet") }))),
  );
  $("bids").tBodies[0].replaceChildren(
    ...state.bids.map((b) =>
      el("tr", { "data-bid": b.bid },
        el("td", { text: b.label ? `${text("bidId", { id: b.bid })} (${text("bidLabel", { label: b.label })})` : text("bidId", { id: b.bid }) }),
        el("td", { text: b.bidder }), el("td", { className: "num", text: money(b.price) }),
        el("td", { className: "num", text: b.duration_days ?? "—" }), el("td", {}, responses(b.responses)))),
  );
  $("technical-box").hidden = !state.anonymous_technical;
  $("technical").tBodies[0].replaceChildren(
    ...state.technical.map((t) =>
      el("tr", { "data-label": t.label }, el("td", { text: text("bidLabel", { label: t.label }) }), el("td", {}, responses(t.responses)))),
  );
  drawSheet();
  drawReview();
  drawResult();
  drawClarifications();
}

/** The rows of the sheet: one per (expert-scored criterion, bid or label). */
function sheetRows() {
  const rows = [];
  for (const c of state.criteria.filter((c) => c.scored_by === "experts")) {
    if (c.anonymous) for (const t of state.technical) rows.push({ criterion: c, label: t.label });
    else for (const b of state.bids) rows.push({ criterion: c, bid: b.bid });
  }
  return rows;
}

function keyOf(item) {
  return `${item.criterion.id ?? item.criterion}|${item.label ?? ""}|${item.bid ?? ""}`;
}

function drawSheet() {
  const table = $("sheet-table");
  if (!table || !state) return;
  const mine = new Map((sheet?.scores || []).map((s) => [keyOf(s), s]));
  const locked = !sheet || sheet.state !== "draft" || state.state !== "scoring";
  const body = table.tBodies[0];
  const existing = new Map([...body.rows].map((r) => [r.dataset.key, r]));
  const rows = sheetRows().map((row) => {
    const key = keyOf(row);
    const saved = mine.get(key);
    let tr = existing.get(key);
    if (!tr) {
      const where = row.label !== undefined ? { "data-label": row.label } : { "data-bid": row.bid };
      // each input is named by its column and row (screen readers): "Score: criterion · bid"
      const heads = [...(table.tHead?.rows[0]?.cells || [])].map((c) => c.textContent.trim());
      const about = `${row.criterion.name} · ${place(row)}`;
      tr = el("tr", { "data-key": key },
        el("td", { text: `${row.criterion.name} (0–${row.criterion.max_score})` }),
        el("td", { text: place(row) }),
        el("td", {}, el("input", { className: "score", inputmode: "decimal", "data-criterion": row.criterion.id,
                                   "aria-label": `${heads[2] ?? ""}: ${about}`, ...where })),
        el("td", {}, el("textarea", { className: "comment", rows: 1, "data-criterion": row.criterion.id,
                                      "aria-label": `${heads[3] ?? ""}: ${about}`, ...where })));
      const [input, comment] = [tr.querySelector("input"), tr.querySelector("textarea")];
      if (saved) {
        input.value = saved.score;
        comment.value = saved.comment;
      }
    } else if (saved && locked) {
      tr.querySelector("input").value = saved.score;
      tr.querySelector("textarea").value = saved.comment;
    }
    tr.querySelector("input").disabled = locked;
    tr.querySelector("textarea").disabled = locked;
    return tr;
  });
  body.replaceChildren(...rows);
  $("save").disabled = locked;
  $("submit").disabled = locked;
  $("sheet-state").textContent = sheet ? text(sheet.state) : "";
  $("sheet-state").dataset.state = sheet?.state ?? "";
  if (sheet) $("me").textContent = text("youAre", { n: sheet.expert });
}

function flagLine(f) {
  return text("flagText", {
    expert: f.expert ?? sheet?.expert, score: f.score, criterion: criterionName(f.criterion), bid: place(f),
    mean: f.mean, deviation: `${f.deviation_pct}%`, threshold: `${f.threshold}%`,
  });
}

function drawReview() {
  const box = $("review-box");
  box.hidden = !state.aggregate && state.flags.length === 0;
  $("aggregate").tBodies[0].replaceChildren(
    ...(state.aggregate || []).map((a) =>
      el("tr", {}, el("td", { text: criterionName(a.criterion) }), el("td", { text: place(a) }),
        el("td", { className: "num", text: a.n }), el("td", { className: "num", text: a.score }))),
  );
  $("threshold").textContent = state.outlier_threshold ? `${state.outlier_threshold}%` : "";
  const mineOpen = new Set((sheet?.flags || []).filter((f) => f.state === "open").map((f) => f.id));
  $("flags").replaceChildren(
    ...state.flags.map((f) => {
      const li = el("li", { className: "flag", "data-flag": f.id, "data-state": f.state },
        el("span", { text: flagLine(f) }), " ", el("span", { className: "badge", text: text(f.state) }));
      if (f.justification) li.append(el("small", { text: f.justification }));
      if (f.revised_to) li.append(el("small", { text: `→ ${f.revised_to}` }));
      if (mineOpen.has(f.id) && state.state === "review") {
        const reason = el("textarea", { className: "justification", rows: 2, placeholder: text("justification"),
                                        "aria-label": text("justification") });
        const justify = el("button", { type: "button", className: "button secondary justify", text: text("justify") });
        const score = el("input", { className: "revised-score", inputmode: "decimal", placeholder: text("newScore"),
                                    "aria-label": text("newScore") });
        const revise = el("button", { type: "button", className: "button secondary revise", text: text("revise") });
        justify.addEventListener("click", () => act("justify", { flag: f.id, justification: reason.value }));
        revise.addEventListener("click", () => act("revise", { flag: f.id, score: score.value }));
        li.append(el("div", {}, reason, justify), el("div", {}, score, revise));
      }
      return li;
    }),
  );
}

function drawResult() {
  $("result-box").hidden = !state.result;
  if (state.result) {
    $("ranking").tBodies[0].replaceChildren(
      ...state.result.ranking.map((r) =>
        el("tr", { "data-bid": r.bid }, el("td", { className: "num", text: r.rank ?? "—" }),
          el("td", { text: text("bidId", { id: r.bid }) }), el("td", { text: r.bidder ?? "" }),
          el("td", { className: "num", text: r.total ?? "—" }))),
    );
  }
  const report = state.report;
  $("report-box").hidden = !report;
  if (!report) return;
  $("report-link").href = root.dataset.documentUrl.replace(/\/0$/, `/${report.document}`);
  $("signatures").replaceChildren(
    ...report.signatures.map((s) =>
      el("li", { "data-expert": s.expert, "data-signed": s.signed ? "yes" : "no" },
        el("strong", { text: text("expert", { n: s.expert }) }), " · ",
        el("span", { text: s.signed ? text("signedBy") : text("unsigned") }))),
  );
  const form = $("sign-form");
  if (form) {
    const mine = report.signatures.find((s) => s.expert === sheet?.expert);
    form.hidden = !mine || mine.signed || state.state !== "signing";
  }
}

function drawClarifications() {
  $("clarifications").replaceChildren(
    ...state.clarifications.map((c) =>
      el("li", { "data-clarification": c.id, "data-state": c.state },
        el("strong", { text: `${text("bidId", { id: c.bid })} · ${c.bidder}` }), " ",
        el("span", { className: "badge", text: text(c.state) }),
        el("small", { text: c.question }),
        el("small", { text: `${text("deadline")} ${c.deadline}` }),
        el("small", { className: "answer", text: c.answer ?? text("noAnswer") }))),
  );
  const select = $("ask-bid");
  if (select && select.options.length !== state.bids.length) {
    select.replaceChildren(...state.bids.map((b) => el("option", { value: b.bid, text: `${text("bidId", { id: b.bid })} · ${b.bidder}` })));
  }
}

// ---------------------------------------------------------------- actions

function emit(event, payload) {
  return new Promise((resolve) => {
    socket.timeout(ACK_TIMEOUT).emit(event, { panel, ...payload }, (err, answer) => {
      resolve(err ? { ok: false, message: String(err) } : answer);
    });
  });
}

async function act(event, payload, done) {
  const answer = await emit(event, payload);
  if (answer && answer.ok) {
    if (done) status(done, "success");
  } else {
    status(`${text("refused")} ${answer?.message ?? ""}`, "error");
  }
  return answer;
}

function readSheet() {
  return [...$("sheet-table").tBodies[0].rows]
    .map((tr) => {
      const input = tr.querySelector("input.score");
      const comment = tr.querySelector("textarea.comment");
      if (input.value.trim() === "") return null;
      const item = { criterion: Number(input.dataset.criterion), score: input.value.trim(), comment: comment.value };
      if (input.dataset.label !== undefined) item.label = input.dataset.label;
      else item.bid = Number(input.dataset.bid);
      return item;
    })
    .filter(Boolean);
}

function wire() {
  $("save")?.addEventListener("click", () => act("save", { scores: readSheet() }, text("saved")));
  $("submit")?.addEventListener("click", async () => {
    const scores = readSheet();
    if (scores.length) {
      const saved = await act("save", { scores });
      if (!saved?.ok) return;
    }
    await act("submit", {}, text("sent"));
  });
  $("sign-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await act("sign", { password: $("sign-password").value }, text("signedOk"));
    if (answer?.ok) $("sign-password").value = "";
  });
  $("ask-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const local = $("ask-deadline").value;
    const deadline = local ? new Date(local).toISOString() : "";
    const answer = await act("ask", { bid: Number($("ask-bid").value), question: $("ask-question").value, deadline },
      text("questionSent"));
    if (answer?.ok) $("ask-question").value = "";
  });
}

// ---------------------------------------------------------------- the connection

async function token() {
  const response = await fetch(root.dataset.tokenUrl, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`token: ${response.status}`);
  return (await response.json()).access_token;
}

function connect() {
  socket = io("/evaluation", {
    auth: (cb) => token().then((t) => cb({ token: t }), () => cb({})),
    transports: ["websocket", "polling"],
  });
  socket.on("connect", async () => {
    $("connection").textContent = text("connected");
    const answer = await emit("join", {});
    if (!answer?.ok) status(`${text("refused")} ${answer?.message ?? ""}`, "error");
  });
  socket.on("disconnect", () => { $("connection").textContent = text("disconnected"); });
  socket.on("state", (data) => {
    if (data.panel !== panel) return;
    state = data;
    drawState();
  });
  socket.on("sheet", (data) => {
    if (data.panel !== panel) return;
    sheet = data;
    if (state) drawState();
  });
  socket.on("error", () => {});
}

if (root && kind) {
  wire();
  connect();
}

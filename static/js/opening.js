// The opening room (/tenders/<id>/opening): the live state of one tender's opening, the same for everyone.
//
// One Socket.IO connection to the "/opening" namespace (bidding/opening/events.py). A signed-in page
// authenticates with a short-lived bearer token from /session/api-token, fetched again on every
// (re)connection; a visitor who is not signed in watches read-only. On each connection the page joins
// `tender:<id>` and receives the current state, so a late joiner or a reconnect sees what everyone sees.
// Every change arrives as "state" (the full public snapshot): the page draws it and never rebuilds the
// state from events. Actions go over the same socket and are acknowledged ({ok} or {code, message}).
//
// A bidder's data key is unwrapped here, from its key file and password, with the envelope's header
// the page was given (as `ebid open-key` does); only the 32-byte data key is sent.
//
// Loaded as an ES module from /static (our CSP allows no inline script); the texts come translated in
// data-* attributes of #messages and the labels of the state's codes in #opening-room's data-labels.

import { io } from "../vendor/socket.io/socket.io.esm.min.js";
import { b64, unwrap } from "./envelope.js";
import { KeyFileError, readKeyFile } from "./keyfile.js";
import { formatTime } from "./times.js";

const $ = (id) => document.getElementById(id);
const root = $("opening-room");
const FINAL = new Set(["opened", "failed", "revoked", "platform_fault"]);
const ACK_TIMEOUT = 60_000;
const JOIN_RETRY = 5_000;

/** A translated text from #messages, with {name} placeholders filled in. */
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

function show(node, visible) {
  node.hidden = !visible;
}

// ---------------------------------------------------------------- formatting

// The one time format (times.js): "2026-06-01 09:30:00 北京时间", to the second in the opening room.
function when(iso) {
  return formatTime(iso, { seconds: true });
}

/** "12,345,678.90 CNY", from the decimal string (never through a float). */
function money(price) {
  if (!price || price.amount === undefined || price.amount === null) return "—";
  const [whole, cents] = String(price.amount).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${grouped}${cents === undefined ? "" : `.${cents}`} ${price.currency || ""}`.trim();
}

function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const pad = (n) => String(n).padStart(2, "0");
  const clock = `${pad(Math.floor((total % 86400) / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
  return days ? `${days} ${text("days")} ${clock}` : clock;
}

// ---------------------------------------------------------------- the page's facts

const tender = Number(root?.dataset.tender);
const role = root?.dataset.role || "watcher";
const signedIn = root?.dataset.signedIn === "true";
const me = { name: root?.dataset.meName || "", organisation: root?.dataset.meOrganisation || "" };
const parse = (name) => {
  try {
    return JSON.parse(root?.dataset[name] || "null");
  } catch {
    return null;
  }
};
const labels = parse("labels") || {};
// The opening's states in which the ceremony goes on, from the server (bidding/opening/pages.py):
// "decrypting", "remedy" (only with the custodians' remedy and bids still waiting) and
// "awaiting_conclusion" (no more keys or shares; the host concludes).
const LIVE = new Set(parse("liveStates") || ["decrypting", "remedy", "awaiting_conclusion"]);
const custodian = role === "host" || role === "supervisor";
const mine = parse("mine") || [];
const label = (kind, code) => (labels[kind] && labels[kind][code]) || code || "—";

let state = null;        // the latest snapshot
let newest = -Infinity;  // its server_time, to ignore an older snapshot that arrives late
let offset = 0;          // the server's clock minus ours, in ms
const handed = new Set(); // bids whose key this page handed over
let busy = false;
let busyShare = false;  // a share is being sent (its words stay in the form until it is answered)

const serverNow = () => Date.now() + offset;

function apply(snapshot) {
  if (!snapshot || snapshot.tender !== tender) return;
  const at = Date.parse(snapshot.server_time);
  if (Number.isFinite(at)) {
    if (at < newest) return;
    newest = at;
    offset = at - Date.now();
  }
  state = snapshot;
  render();
}

// ---------------------------------------------------------------- status lines

function say(message, kind = "") {
  const status = $("status");
  status.hidden = !message;
  status.className = `flash ${kind}`.trim();
  status.textContent = message || "";
}

function connection(kind, message) {
  const line = $("connection");
  line.dataset.state = kind;
  line.className = `flash ${kind === "live" ? "success" : kind === "error" ? "error" : ""}`.trim();
  line.textContent = message;
}

class Refusal extends Error {
  constructor(answer) {
    super(answer?.message || "refused");
    this.code = answer?.code;
  }
}

function failure(err) {
  if (err instanceof Refusal && err.code === "remedy_closed") return text("remedyClosed");
  if (err instanceof Refusal) return `${text("refused")} ${err.message}`;
  if (err instanceof KeyFileError) return text("keyWrong");
  return err?.message || String(err);
}

// ---------------------------------------------------------------- drawing the state

function render() {
  if (!state) return;
  const opening = state.opening;
  const bids = state.bids || [];
  $("tender-state").textContent = label("tender", state.tender_state);
  $("tender-state").dataset.state = state.tender_state;
  $("opening-state").textContent = label("opening", opening ? opening.state : "none");
  $("opening-state").dataset.state = opening ? opening.state : "none";
  $("host").textContent = opening?.host || "—";
  $("started-at").textContent = when(opening?.started_at);
  $("window-ends").textContent = when(opening?.window_ends_at);
  $("remedy").textContent = label("remedy", state.remedy);
  renderRemedyEnd(opening, bids);
  $("opening-time").textContent = when(state.opening_time);
  renderBids(bids);
  renderProgress(bids);
  renderAnnouncements(bids);
  renderCheckIns(state.check_ins || []);
  renderObjections(state.objections || []);
  renderControls(opening, bids);
  renderOutcome(opening, bids);
  renderMine(bids);
  tick();
}

/** Whether the custodians' remedy took place: only then does the window's end leave remedy_ends_at set. */
function hadRemedy(opening) {
  return Boolean(opening && opening.remedy_ends_at && state.remedy === "custodian_shares"
    && (opening.state === "remedy" || opening.state === "awaiting_conclusion"));
}

/** Why the remedy ended, from the public state: its deadline passed (which revokes the bids still
 * waiting; nothing else revokes a bid once the remedy has begun), or else k shares rebuilt the key. */
function remedyEnding(bids) {
  return bids.some((b) => b.state === "revoked")
    ? text("remedyExpired", { at: when(state.opening.remedy_ends_at) }) : text("remedyRebuilt");
}

// The custodians' remedy in the facts: its deadline (planned while the window runs, fixed when it ends),
// and once it has ended, how. A tender without the remedy, or with nothing left waiting at the window's
// end, never has one (its opening goes from "decrypting" straight to "awaiting_conclusion").
function renderRemedyEnd(opening, bids) {
  const ahead = Boolean(opening?.remedy_ends_at && state.remedy === "custodian_shares"
    && (opening.state === "decrypting" || opening.state === "remedy"));
  const ended = hadRemedy(opening) && opening.state === "awaiting_conclusion";
  for (const node of document.querySelectorAll(".remedy-ends")) show(node, ahead || ended);
  $("remedy-ends-label").textContent = text(ended ? "remedyLabel" : "remedyEndsLabel");
  $("remedy-ends").textContent = ended ? remedyEnding(bids) : when(opening?.remedy_ends_at);
}

function renderBids(bids) {
  const body = $("bids").tBodies[0];
  body.replaceChildren(...bids.map((b) => {
    const own = mine.some((m) => m.bid === b.bid);
    const stateCell = el("td", { className: "state" },
      el("span", { className: `badge state-${b.state}`, text: label("bid", b.state) }));
    if (b.state === "decrypting") stateCell.append(" ", el("progress", { className: "decrypting" }));
    if (b.outcome && b.state !== "opened") stateCell.append(el("small", { className: "muted outcome", text: b.outcome }));
    if (b.restored_at) {
      stateCell.append(el("small", { className: "muted restored", text: text("restoredAt", { at: when(b.restored_at) }) }));
    }
    return el("tr", { "data-bid": b.bid, "data-state": b.state, className: own ? "mine" : null },
      el("td", { text: own ? `${b.bid} ★` : String(b.bid) }),
      el("td", { text: String(b.lot) }),
      stateCell,
      el("td", { className: "bidder", text: b.bidder || "—" }),
      el("td", { className: "price num", text: money(b.price) }),
      el("td", { className: "duration num", text: b.duration_days ? String(b.duration_days) : "—" }),
      depositCell(b),
      el("td", { className: "source", text: b.key_source ? label("source", b.key_source) : "—" }));
  }));
  show($("no-bids"), !bids.length);
}

// Once the opening has ended, a bid's deposit is what the opening recorded (its record says the same);
// the status of the moment, if it differs (a guarantee released after the award), follows, labelled "now".
function depositCell(b) {
  const cell = el("td", { className: "deposit", text: b.deposit ? label("deposit", b.deposit.state) : "—",
    title: b.deposit?.recorded ? `${text("depositRecorded")}: ${b.deposit.detail || ""}` : (b.deposit?.detail || "") });
  if (b.deposit) cell.dataset.state = b.deposit.state;
  if (b.deposit_now && b.deposit_now.state !== b.deposit?.state) {
    cell.append(el("small", { className: "muted deposit-now", title: b.deposit_now.detail || "",
      text: ` ${text("depositNow", { state: label("deposit", b.deposit_now.state) })}` }));
  }
  return cell;
}

function renderProgress(bids) {
  const final = bids.filter((b) => FINAL.has(b.state)).length;
  const opened = bids.filter((b) => b.state === "opened").length;
  const bar = $("opening-progress");
  bar.max = Math.max(1, bids.length);
  bar.value = final;
  $("progress-text").textContent = bids.length
    ? text("progress", { final, total: bids.length, opened })
    : text("noEnvelopes");
}

function renderAnnouncements(bids) {
  const announced = bids.filter((b) => FINAL.has(b.state));
  announced.sort((a, b) => (a.opened_at || "~").localeCompare(b.opened_at || "~") || a.bid - b.bid);
  $("announcements").replaceChildren(...announced.map((b) => {
    const item = el("li", { "data-bid": b.bid, "data-state": b.state });
    if (b.state === "opened") {
      item.append(el("strong", { className: "announced",
        text: text("announced", { bidder: b.bidder, price: money(b.price), days: b.duration_days ?? "—" }) }));
      const terms = Object.entries(b.terms || {});
      if (terms.length) {
        item.append(el("ul", { className: "terms" },
          ...terms.map(([name, value]) => el("li", { text: `${name}: ${typeof value === "string" ? value : JSON.stringify(value)}` }))));
      }
      item.append(el("small", { text: `${when(b.opened_at)} · ${label("deposit", b.deposit?.state)}` }));
    } else {
      item.append(el("strong", { text: text("notOpened", { bidder: b.bidder || b.bid, state: label("bid", b.state) }) }));
      if (b.outcome) item.append(el("small", { text: b.outcome }));
    }
    return item;
  }));
  show($("no-announcements"), !announced.length);
}

function checkedIn() {
  return (state?.check_ins || []).some((c) => c.user === me.name && (c.organisation || "") === me.organisation);
}

function renderCheckIns(checkIns) {
  $("check-ins").tBodies[0].replaceChildren(...checkIns.map((c) => el("tr", {},
    el("td", { text: c.user }), el("td", { text: c.organisation || "—" }),
    el("td", { text: label("role", c.role) }), el("td", { text: when(c.at) }))));
}

let drawnObjections = null;

function renderObjections(objections) {
  const drawn = JSON.stringify(objections) + role;
  show($("no-objections"), !objections.length);
  if (drawn === drawnObjections) return;  // unchanged: leave any answer being typed alone
  drawnObjections = drawn;
  const drafts = new Map([...document.querySelectorAll("#objections textarea")].map((t) => [t.dataset.objection, t.value]));
  $("objections").replaceChildren(...objections.map((o) => {
    const item = el("li", { "data-objection": o.id },
      el("small", { text: text("objectionBy", { who: o.raised_by, at: when(o.raised_at) }) }),
      el("p", { className: "objection-text", text: o.text }));
    if (o.answer) {
      item.append(el("small", { text: text("answer", { at: when(o.answered_at) }) }),
        el("p", { className: "answer", text: o.answer }));
    } else if (role === "host") {
      const area = el("textarea", { rows: 2, maxlength: 2000, "data-objection": o.id });
      area.value = drafts.get(String(o.id)) || "";
      const button = el("button", { type: "submit", className: "button secondary", text: text("answerSubmit") });
      const form = el("form", { className: "answer-form", "data-objection": o.id, novalidate: true },
        el("label", { className: "field wide" }, el("span", { text: text("answerLabel") }), area), button);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        perform(button, () => act("answer", { objection: o.id, answer: area.value }));
      });
      item.append(form);
    } else {
      item.append(el("small", { className: "muted", text: text("unanswered") }));
    }
    return item;
  }));
}

function renderControls(opening, bids) {
  const live = Boolean(opening && LIVE.has(opening.state));
  const host = role === "host";
  show($("host-controls"), host && (live || (!opening && state.tender_state === "closed")));
  show($("start"), host && !opening && state.tender_state === "closed");
  show($("conclude"), host && live);
  show($("check-in-box"), role !== "watcher" && live);
  show($("check-in"), !checkedIn());
  show($("checked-in"), checkedIn());
  show($("objection-form"), role === "bidder" && live);
  show($("key-box"), role === "bidder" && (opening?.state === "decrypting" || (live && handed.size > 0)));
  renderShares();
}

let shareRefused = null;  // the refusal of a share this page sent, kept in view until the next attempt

/** Whether shares are taken now: the remedy runs, a bid waits, and by the server's clock it has not ended. */
function remedyOpen() {
  const opening = state?.opening;
  if (!opening || opening.state !== "remedy" || state.remedy !== "custodian_shares") return false;
  if (!(state.bids || []).some((b) => b.state === "waiting_key")) return false;
  return !opening.remedy_ends_at || serverNow() < Date.parse(opening.remedy_ends_at);
}

// The custodians' box: the form while shares are taken; once the remedy has ended (the key rebuilt, or
// its deadline passed — the server refuses from that moment, before its job has run) the form goes and
// the box says so, and a share refused as too late stays explained where it was typed.
function renderShares() {
  if (!state) return;
  const opening = state.opening;
  const open = remedyOpen();
  const after = opening?.state === "remedy" || opening?.state === "awaiting_conclusion";
  show($("share-box"), custodian && (open || (after && (hadRemedy(opening) || shareRefused !== null))));
  show($("share-form"), open);
  show($("share-intro"), open);
  show($("share-closed"), !open);
  if (!open) {
    $("share-closed").textContent = text("remedyOver");
    // Words typed for a remedy that is over are of no use any more: they do not stay on the screen.
    if (!busyShare) {
      $("share-words").value = "";
      $("share-file").value = "";
    }
  }
  show($("share-refused"), shareRefused !== null);
  if (shareRefused) {
    $("share-refused").dataset.code = shareRefused.code || "";
    $("share-refused-text").textContent = shareRefused.code === "remedy_closed"
      ? text("remedyClosed") : `${text("refused")} ${shareRefused.message}`;
    $("share-refused-detail").textContent = shareRefused.code === "remedy_closed" ? shareRefused.message : "";
  }
}

function renderOutcome(opening, bids) {
  const ended = Boolean(opening && (opening.state === "concluded" || opening.state === "failed"));
  show($("outcome"), ended);
  if (!ended) return;
  const valid = bids.filter((b) => b.state === "opened").length;
  const outcome = $("outcome-text");
  outcome.textContent = text(opening.state === "concluded" ? "concluded" : "failed", { valid });
  outcome.className = `flash ${opening.state === "concluded" ? "success" : "error"}`;
  outcome.dataset.state = opening.state;
  const documentId = opening.record_document;
  show($("record"), Boolean(documentId));
  show($("record-pending"), !documentId);
  if (documentId) {
    $("record-pdf").href = `/documents/${encodeURIComponent(documentId)}/pdf`;
    $("record-page").href = `/documents/${encodeURIComponent(documentId)}`;
  }
  // A failed tender: its signed failure notice, and (for the host) re-tendering it as a new draft.
  const notice = opening.failure_notice_document;
  show($("failure-notice"), Boolean(notice));
  if (notice) $("failure-notice-pdf").href = `/documents/${encodeURIComponent(notice)}/pdf`;
  const copy = opening.retendered_as || retendered;
  show($("retender-box"), role === "host" && opening.state === "failed" && !copy);
  show($("retendered"), Boolean(copy));
  if (copy) {
    // The copy is a draft until its office publishes it: only the office can open it then (its edit
    // page); everyone else sees its reference, and a link once it is public.
    const draft = (copy.state || "draft") === "draft";
    const link = role === "host" && draft ? `/office/tenders/${encodeURIComponent(copy.tender)}/edit`
      : draft ? null : `/tenders/${encodeURIComponent(copy.tender)}`;
    const reference = copy.reference || String(copy.tender);
    $("retendered").dataset.tender = copy.tender;
    $("retendered-link").textContent = reference;
    $("retendered-reference").textContent = reference;
    show($("retendered-link"), Boolean(link));
    show($("retendered-reference"), !link);
    if (link) $("retendered-link").href = link;
    $("retendered-state").textContent = draft && role !== "host" ? text("retenderedDraft")
      : `(${label("tender", copy.state || "draft")})`;
  }
}

// The draft copy this page made, from the API's answer, until the room's state (pushed after the
// re-tender) links it for everyone.
let retendered = null;

async function api(method, path) {
  const response = await fetch(path, { method, credentials: "omit", cache: "no-store",
    headers: { Authorization: `Bearer ${await bearer()}`, Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Refusal(body?.error || { message: `HTTP ${response.status}` });
  return body;
}

// The bidder's own bids, and the progress of the key it handed over.
function renderMine(bids) {
  if (role !== "bidder") return;
  const byId = new Map(bids.map((b) => [b.bid, b]));
  $("my-bids").replaceChildren(...mine.map((m) => {
    const now = byId.get(m.bid);
    return el("li", { "data-bid": m.bid, "data-state": now?.state || "" },
      el("strong", { text: text("mine", { bid: m.bid, lot: m.lot }) }), " ",
      el("span", { className: `badge state-${now?.state || "none"}`, text: now ? label("bid", now.state) : "—" }),
      el("small", { text: m.envelope_sha256 }),
      m.header ? null : el("small", { className: "error", text: text("noHeader") }),
      restorable(now) ? restoreForm(m.bid) : null);
  }));
  const waiting = mine.filter((m) => byId.get(m.bid)?.state === "waiting_key");
  const select = $("key-bid");
  const keep = select.value;
  select.replaceChildren(...waiting.map((m) => el("option", { value: m.bid, text: text("mine", { bid: m.bid, lot: m.lot }) })));
  if (waiting.some((m) => String(m.bid) === keep)) select.value = keep;
  show($("key-bid-field"), waiting.length > 1);
  show($("key-form"), waiting.length > 0 || busy);
  $("hand-over").disabled = busy || !waiting.length;
  if (!busy && handed.size) {
    const mineNow = [...handed].map((id) => byId.get(id)).filter(Boolean);
    if (mineNow.length && mineNow.every((b) => FINAL.has(b.state))) {
      step(4, mineNow.every((b) => b.state === "opened") ? text("opened")
        : mineNow.map((b) => label("bid", b.state)).join("; "));
    } else if (mineNow.some((b) => b.state === "decrypting")) {
      step(null, text("decrypting"));
    }
  }
}

// A bid the platform damaged or lost (platform_fault) while the window is open: the bidder may hand in its
// own copy of the envelope (POST .../opening/bids/<bid>/envelope), checked against its receipt and the log.
function restorable(bid) {
  return bid?.state === "platform_fault" && state.opening?.state === "decrypting";
}

function restoreForm(bid) {
  // the same form across redraws, so a file already chosen survives the room's state pushes
  const kept = $("my-bids").querySelector(`form.restore[data-bid="${Number(bid)}"]`);
  if (kept) return kept;
  return el("form", { className: "restore", "data-bid": bid },
    el("p", { className: "muted", text: text("restoreIntro") }),
    el("input", { type: "file", className: "restore-file" }),
    el("button", { type: "submit", className: "button secondary", text: text("restoreSubmit") }));
}

function restoreCopy(event) {
  const form = event.target.closest("form.restore");
  if (!form) return;
  event.preventDefault();
  const file = form.querySelector(".restore-file").files[0];
  perform(form.querySelector("button"), async () => {
    if (!file) throw new Error(text("restoreMissing"));
    const response = await fetch(
      `/api/tenders/${encodeURIComponent(tender)}/opening/bids/${encodeURIComponent(form.dataset.bid)}/envelope`,
      { method: "POST", credentials: "omit", cache: "no-store", body: file,
        headers: { Authorization: `Bearer ${await bearer()}`, Accept: "application/json",
                   "Content-Type": "application/octet-stream" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Refusal(body?.error || { message: `HTTP ${response.status}` });
    apply(body);
  }, text("restored"));
}

function step(value, message) {
  show($("key-progress-box"), true);
  const bar = $("key-progress");
  if (value === null) bar.removeAttribute("value");  // indeterminate: the platform is working
  else bar.value = value;
  $("key-step").textContent = message;
}

// The countdown: to the opening time, then to the window's end; the host's Start waits for the time.
function tick() {
  if (!state) return;
  const opening = state.opening;
  const now = serverNow();
  let caption = text("untilOpening");
  let value;
  if (!opening) {
    const left = Date.parse(state.opening_time) - now;
    if (left > 0) value = duration(left);
    else if (state.tender_state === "published" || state.tender_state === "closed") {
      caption = "";
      value = text("openingDue");
    } else value = text("ended");
    $("start").disabled = left > 0;
    $("host-hint").textContent = !$("start").hidden && left > 0 ? text("startWait") : "";
  } else if (opening.state === "decrypting") {
    const left = Date.parse(opening.window_ends_at) - now;
    caption = text("untilWindow");
    value = left > 0 ? duration(left) : text("windowOver");
  } else if (opening.state === "remedy") {
    const left = opening.remedy_ends_at ? Date.parse(opening.remedy_ends_at) - now : NaN;
    caption = left > 0 ? text("untilRemedy") : "";
    value = left > 0 ? duration(left) : opening.remedy_ends_at ? text("remedyOver") : text("windowOver");
  } else if (opening.state === "awaiting_conclusion") {
    caption = "";
    value = text("awaiting");
  } else {
    caption = "";
    value = LIVE.has(opening.state) ? text("windowOver") : text("ended");
  }
  if (opening && LIVE.has(opening.state)) {
    const pending = (state.bids || []).filter((b) => !FINAL.has(b.state)).length;
    $("conclude").disabled = pending > 0;
    $("host-hint").textContent = pending > 0 ? text("concludeWait") : "";
  }
  $("countdown-label").textContent = caption || text("countdown");
  $("countdown").textContent = value;
  renderShares();  // the remedy's deadline passes by the clock, before the server's job has run
}

// ---------------------------------------------------------------- the socket

// The API token of the signed-in page (only same-origin script can read it), fetched afresh when old.
let token = null;
let tokenExpires = 0;

async function bearer() {
  if (!token || Date.now() > tokenExpires - 60_000) {
    const response = await fetch("/session/api-token", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    token = body.access_token;
    tokenExpires = Date.now() + body.expires_in * 1000;
  }
  return token;
}

let socket = null;
let joinTimer = null;
let refusedConnections = 0;

function act(event, payload = {}) {
  return new Promise((resolve, reject) => {
    if (!socket?.connected) {
      reject(new Error(text("reconnecting")));
      return;
    }
    socket.timeout(ACK_TIMEOUT).emit(event, { tender, ...payload }, (err, answer) => {
      if (err) reject(new Error(text("reconnecting")));
      else if (!answer || answer.ok !== true) reject(new Refusal(answer));
      else resolve(answer);
    });
  });
}

/** Run an action from a button: disabled while it runs, the refusal said in #status. */
async function perform(button, action, done) {
  if (button) button.disabled = true;
  try {
    await action();
    say(done || "", done ? "success" : "");
  } catch (err) {
    say(failure(err), "error");
  } finally {
    if (button) button.disabled = false;
    tick();
  }
}

async function join() {
  clearTimeout(joinTimer);
  try {
    await act("join");
    connection("live", text("live"));
  } catch (err) {
    // rate_limited: many watchers behind one address polled while waiting; wait and try again as well
    if (err instanceof Refusal && (err.code === "no_opening" || err.code === "rate_limited")) {
      connection("waiting", text("notOpen"));
      joinTimer = setTimeout(join, JOIN_RETRY);  // bidding closes by the clock; join as soon as it has
    } else if (err instanceof Refusal) {
      connection("error", failure(err));
    } else if (socket?.connected) {
      joinTimer = setTimeout(join, JOIN_RETRY);
    }
  }
}

function connect() {
  socket = io("/opening", {
    // A websocket first: behind several web processes it needs no session affinity (long-polling does,
    // and nginx pins it by address); polling stays as the fallback for networks that refuse websockets.
    transports: ["websocket", "polling"],
    // Called on every (re)connection: a fresh token, so a long ceremony outlives any one token.
    auth: (send) => {
      if (!signedIn) {
        send({});
        return;
      }
      bearer().then((t) => send({ token: t }), () => send({}));
    },
  });
  socket.on("connect", () => {
    refusedConnections = 0;
    join();
  });
  socket.on("state", apply);
  socket.on("disconnect", () => {
    clearTimeout(joinTimer);
    connection("reconnecting", text("reconnecting"));
  });
  socket.on("connect_error", (err) => {
    if (socket.active) {
      connection("reconnecting", text("reconnecting"));  // the client retries by itself
      return;
    }
    // Refused by the server (e.g. a token that expired meanwhile): try again with a new token, a few times.
    connection("error", `${text("refused")} ${err.message}`);
    token = null;
    if (refusedConnections++ < 3) setTimeout(() => socket.connect(), 2_000 * refusedConnections);
  });
}

// ---------------------------------------------------------------- the bidder's data key

async function handOver(event) {
  event.preventDefault();
  const byId = new Map((state?.bids || []).map((b) => [b.bid, b]));
  const waiting = mine.filter((m) => byId.get(m.bid)?.state === "waiting_key");
  const chosen = waiting.find((m) => String(m.bid) === $("key-bid").value) || waiting[0];
  if (!chosen) {
    say(text("nothingWaiting"), "error");
    return;
  }
  if (!checkedIn()) {  // the platform refuses a key from a bidder who has not checked in (not_checked_in)
    say(text("notCheckedIn"), "error");
    return;
  }
  const pasted = $("data-key").value.trim();
  const file = $("key-file").files[0];
  const password = $("key-password").value;
  if (!pasted && (!file || !password)) {
    say(text("keyMissing"), "error");
    return;
  }
  busy = true;
  $("hand-over").disabled = true;
  say("");
  let keys = null;
  let dataKey = null;
  try {
    if (pasted) {
      step(2, text("handingOver"));
      await act("hand_over_key", { bid: chosen.bid, data_key: pasted });
      handed.add(chosen.bid);
    } else {
      step(0, text("readingKey"));
      keys = await readKeyFile(await file.text(), password);
      // One key file opens every envelope the company sealed with it: hand over each bid still waiting.
      for (const m of [chosen, ...waiting.filter((w) => w !== chosen)]) {
        step(1, text("unwrapping"));
        if (!m.header) throw new Error(text("noHeader"));
        try {
          dataKey = await unwrap(m.header, keys.x25519Private);
        } catch {
          throw new Error(text("keyNotRecipient"));
        }
        step(2, text("handingOver"));
        await act("hand_over_key", { bid: m.bid, data_key: b64(dataKey) });
        dataKey.fill(0);
        dataKey = null;
        handed.add(m.bid);
        step(3, text("decrypting"));
      }
    }
    $("data-key").value = "";
    say(text("handedOver"), "success");
  } catch (err) {
    step(0, "");
    show($("key-progress-box"), false);
    say(failure(err), "error");
  } finally {
    // The private keys and the data key live only as long as this hand-over.
    keys?.x25519Private.fill(0);
    keys?.ed25519Private.fill(0);
    dataKey?.fill(0);
    $("key-password").value = "";
    busy = false;
    render();
  }
}

// ---------------------------------------------------------------- wiring

async function shareText() {
  const words = $("share-words").value.trim();
  if (words) return words;
  const file = $("share-file").files[0];
  return file ? (await file.text()).trim() : "";
}

function wire() {
  $("start").addEventListener("click", () => perform($("start"), () => act("start")));
  $("conclude").addEventListener("click", () => perform($("conclude"), () => act("conclude")));
  $("check-in").addEventListener("click", () => perform($("check-in"), () => act("check_in")));
  $("retender").addEventListener("click", () => perform($("retender"), async () => {
    const copy = await api("POST", `/api/tenders/${encodeURIComponent(tender)}/retender`);
    retendered = { tender: copy.tender, reference: copy.reference };
    render();
  }));
  $("key-form").addEventListener("submit", handOver);
  $("my-bids").addEventListener("submit", restoreCopy);
  $("objection-form").addEventListener("submit", (event) => {
    event.preventDefault();
    perform($("objection-submit"), async () => {
      await act("objection", { text: $("objection-text").value });
      $("objection-text").value = "";
    });
  });
  $("share-form").addEventListener("submit", (event) => {
    event.preventDefault();
    shareRefused = null;
    busyShare = true;
    perform($("share-submit"), async () => {
      try {
        const share = await shareText();
        if (!share) throw new Error(text("shareMissing"));
        await act("share", { share });
        $("share-words").value = "";
        $("share-file").value = "";
      } catch (err) {
        // A refusal stays explained in the box it was typed in (e.g. too late: the remedy has ended).
        if (err instanceof Refusal) shareRefused = { code: err.code, message: err.message };
        throw err;
      } finally {
        busyShare = false;
        renderShares();
      }
    }, text("shareAccepted"));
  });
}

if (root) {
  wire();
  apply(parse("snapshot"));
  setInterval(tick, 1000);
  connection("connecting", text("connecting"));
  connect();
}

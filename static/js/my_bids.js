// "My bids" (/my/bids): countdowns, each receipt verified in the browser, and new PDF receipts shown live.
//
// The page is drawn by the server (templates/bidding/my_bids.html). This script
//  - counts down to each tender's deadline and opening by the platform's clock (data-server-time);
//  - verifies a receipt when asked: the JWS (ES256) against the platform's key in /.well-known/jwks.json
//    with WebCrypto, that it names this row's envelope, that its log entry hashes to its leaf and its
//    inclusion proof leads to the root of the checkpoint it carries, and that the log today still holds
//    that entry under its latest signed checkpoint (GET /api/log/entries/<index>, logproof.js);
//  - joins its organisation's room on the "/bids" Socket.IO namespace (bidding/my_bids.py) and, on
//    "receipt.ready", fetches the page again and swaps the list in place (no reload). If the socket cannot
//    connect, it asks every few seconds instead while a PDF receipt is still being made.
//
// Loaded as an ES module from /static (the CSP allows no inline script); texts come translated in the
// data-* attributes of #messages.

import { io } from "../vendor/socket.io/socket.io.esm.min.js";
import { leafHashOf, verifyCheckpoint, verifyEntry, verifyInclusion } from "./logproof.js";

const $ = (id) => document.getElementById(id);
const POLL = 5_000;
const CONNECT_GRACE = 8_000;

function text(key, values = {}) {
  const template = $("messages")?.dataset[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// ---------------------------------------------------------------- countdowns

let offset = 0; // the platform's clock minus ours, in ms

function readClock() {
  const at = Date.parse($("my-bids")?.dataset.serverTime || "");
  if (Number.isFinite(at)) offset = at - Date.now();
}

function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const pad = (n) => String(n).padStart(2, "0");
  const clock = `${pad(Math.floor((total % 86400) / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
  return days ? `${days} ${text("days")} ${clock}` : clock;
}

function tick() {
  const now = Date.now() + offset;
  for (const node of document.querySelectorAll(".countdown[data-until]")) {
    const left = Date.parse(node.dataset.until) - now;
    node.textContent = Number.isFinite(left) ? (left > 0 ? `(${text("in")} ${duration(left)})` : `(${text("passed")})`) : "";
    node.dataset.left = left > 0 ? "yes" : "no";
  }
}

// ---------------------------------------------------------------- the API token of the signed-in page

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

async function getJson(url, auth = false) {
  const headers = auth ? { Authorization: `Bearer ${await bearer()}` } : {};
  const response = await fetch(url, { headers, cache: "no-store" });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error?.message || `HTTP ${response.status}`);
  return body;
}

// ---------------------------------------------------------------- receipts verified here

class NotVerified extends Error {}

function b64urlBytes(part) {
  const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

const utf8 = new TextDecoder();

/** Check a receipt JWS for `envelope`; resolves to {index, treeSize} or rejects with NotVerified. */
export async function verifyReceipt(jws, envelope) {
  const parts = String(jws).split(".");
  if (parts.length !== 3) throw new NotVerified("not a compact JWS");
  const header = JSON.parse(utf8.decode(b64urlBytes(parts[0])));
  const payload = JSON.parse(utf8.decode(b64urlBytes(parts[1])));
  if (header.alg !== "ES256") throw new NotVerified(`unexpected algorithm ${header.alg}`);
  const jwks = await getJson("/.well-known/jwks.json");
  const jwk = (jwks.keys || []).find((k) => k.kid === header.kid && k.kty === "EC" && k.crv === "P-256");
  if (!jwk) throw new NotVerified("signed by a key the platform does not publish");
  const key = await crypto.subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
    { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
  if (!(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, b64urlBytes(parts[2]), signed))) {
    throw new NotVerified("the signature does not verify");
  }
  const entry = JSON.parse(payload.entry);
  if (payload.subject?.envelope !== envelope || entry.subject?.envelope !== envelope) {
    throw new NotVerified("the receipt names another envelope");
  }
  const proof = payload.log || {};
  if (entry.index !== proof.index) throw new NotVerified("the entry's index is not the receipt's");
  if ((await leafHashOf(payload.entry)) !== proof.leaf_hash) throw new NotVerified("the entry does not hash to its leaf");
  const { vkeys } = await getJson("/api/log/key");
  // The proof the receipt carries, to the root of the checkpoint it carries.
  const then = await verifyCheckpoint(payload.checkpoint, vkeys);
  if (then.treeSize !== proof.tree_size || then.rootHash !== proof.root_hash) {
    throw new NotVerified("the receipt's proof is for another tree than its checkpoint's");
  }
  if (!(await verifyInclusion({ leafHash: proof.leaf_hash, index: proof.index, treeSize: proof.tree_size,
    proof: proof.inclusion_proof, rootHash: then.rootHash }))) {
    throw new NotVerified("the receipt's inclusion proof does not lead to its checkpoint");
  }
  // The log today: the same entry, under the latest signed checkpoint.
  const answer = await getJson(`/api/log/entries/${proof.index}`);
  if (answer.entry !== payload.entry) throw new NotVerified("the log holds another entry at this index");
  const now = await verifyEntry(answer, vkeys);
  if (!now.ok) throw new NotVerified(now.reason);
  return { index: proof.index, treeSize: now.checkpoint.treeSize };
}

const verdicts = new Map(); // bid id -> {ok, message}: kept across live redraws

function showVerdicts() {
  for (const [bid, verdict] of verdicts) {
    const node = document.querySelector(`#bid-${bid} .verdict`);
    if (!node) continue;
    node.textContent = verdict.message;
    node.dataset.verified = verdict.ok === null ? "" : String(verdict.ok);
    node.className = `verdict ${verdict.ok === true ? "ok" : verdict.ok === false ? "error" : ""}`.trim();
  }
}

async function verify(button) {
  const bid = button.dataset.bid;
  const envelope = button.closest("tr")?.dataset.envelope;
  verdicts.set(bid, { ok: null, message: text("verifying") });
  showVerdicts();
  try {
    const { receipt } = await getJson(`/api/my/bids/${encodeURIComponent(bid)}/receipt`, true);
    const found = await verifyReceipt(receipt, envelope);
    verdicts.set(bid, { ok: true, message: text("verified", { index: found.index, size: found.treeSize }) });
  } catch (err) {
    verdicts.set(bid, { ok: false, message: `${text("notVerified")} ${err?.message || err}` });
  }
  showVerdicts();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("button.verify");
  if (button) verify(button);
});

// ---------------------------------------------------------------- live: the list swapped in place

let refreshing = null;

async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("my-bids");
      const list = $("my-bids");
      if (!fresh || !list) return;
      list.innerHTML = fresh.innerHTML;
      list.dataset.serverTime = fresh.dataset.serverTime;
      readClock();
      tick();
      showVerdicts();
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function status(kind) {
  const line = $("live");
  if (!line) return;
  line.hidden = false;
  line.dataset.state = kind;
  line.className = `flash ${kind === "live" ? "success" : ""}`.trim();
  line.textContent = text(kind);
}

let pollTimer = null;

function poll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    if (socket?.connected) return;
    if (document.querySelector(".receipt-pending")) await refresh().catch(() => {});
    poll();
  }, POLL);
}

let socket = null;

function connect() {
  status("connecting");
  socket = io("/bids", {
    transports: ["websocket", "polling"],
    auth: (send) => bearer().then((t) => send({ token: t }), () => send({})),
  });
  socket.on("connect", () => {
    socket.emit("join", {}, (answer) => {
      if (answer && answer.ok) {
        clearTimeout(pollTimer);
        status("live");
        refresh().catch(() => {}); // anything that happened while we were away
      } else {
        status("polling");
        poll();
      }
    });
  });
  socket.on("receipt.ready", () => refresh().catch(() => {}));
  socket.on("disconnect", () => {
    status("polling");
    poll();
  });
  socket.on("connect_error", () => {
    if (!socket.active) token = null;
    status("polling");
    poll();
  });
  setTimeout(() => {
    if (!socket.connected) {
      status("polling");
      poll();
    }
  }, CONNECT_GRACE);
}

readClock();
tick();
setInterval(tick, 1_000);
if ($("my-bids")) connect();

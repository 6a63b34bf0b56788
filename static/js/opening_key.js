// The opening-key ceremony in a custodian's browser (docs/opening.md, "The opening key in the browser").
//
// Everything secret happens here. Joining makes a one-time X25519 key pair whose private half cannot
// be exported and lives only in this page; the platform gets its public half. The first custodian's
// page (the dealer) makes the opening key, splits it with SLIP-39 (slip39.js, as `ebid opening-key`
// does), checks that k shares rebuild it, seals each custodian's share file with HPKE to that
// custodian's public key, sends the public opening key and the sealed shares, and wipes the key. Each
// custodian's page opens its own share, checks it, shows the words to write down, download or print,
// and confirms it by fingerprint; the last confirmation registers the public half.

import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "../vendor/hpke/core/mod.js";
import { b64, canonicalJson, fromB64, hex, kid as kidOf, utf8, x25519PublicOf } from "./envelope.js";
import { sha256 } from "./sha256.js";
import { combine, decodeShare, generate, normalise } from "./slip39.js";

const root = document.getElementById("opening-key-ceremony");
const tender = Number(root.dataset.tender);
const me = Number(root.dataset.me);
const labels = JSON.parse(root.dataset.labels);
const base = `/api/tenders/${tender}/opening-key/ceremony`;
const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
const SHARE_KIND = "ebid-opening-share";
const POLL_MS = 2000;

let state = JSON.parse(root.dataset.state);
let ephemeral = null;     // {ceremony, pair}: this page's one-time key, never stored anywhere
let opened = null;        // {ceremony, share}: the share file this page opened, until confirmed
let busy = false;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- the API (bearer tokens only)

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

let token = null;
let tokenExpires = 0;

async function bearer() {
  if (!token || Date.now() > tokenExpires - 60_000) {
    const response = await fetch("/session/api-token", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new ApiError(response.status, null);
    const body = await response.json();
    token = body.access_token;
    tokenExpires = Date.now() + body.expires_in * 1000;
  }
  return token;
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${await bearer()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, credentials: "omit", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// ---------------------------------------------------------------- crypto

/** HPKE `info` of a sealed share (bidding/key_ceremony.py: INFO_LABEL). */
function sealInfo(ceremony, custodian, kid) {
  return utf8([state.info_label, tender, ceremony, custodian, kid].join("\n"));
}

/** hex SHA-256("ebid-share-v1" || 0x0A || normalised words), as bidding/keyfile.py: share_fingerprint. */
export function fingerprint(mnemonic) {
  return hex(sha256(utf8(`ebid-share-v1\n${normalise(mnemonic)}`)));
}

function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

async function joinCeremony() {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const publicRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  ephemeral = { ceremony: state.ceremony, pair };
  state = await api("POST", `${base}/join`, { ceremony: state.ceremony, public_key: b64(publicRaw) });
}

async function deal() {
  const { ceremony, threshold, count } = state;
  const custodians = [...state.custodians].sort((a, b) => a.position - b.position);
  const secret = crypto.getRandomValues(new Uint8Array(32));
  try {
    const publicKey = await x25519PublicOf(secret);
    const kid = kidOf(publicKey);
    const mnemonics = await generate(secret, threshold, count);
    // As `ebid opening-key`: the shares must rebuild the key before anything leaves this page.
    const rebuilt = await combine(mnemonics.slice(-threshold));
    const ok = equal(rebuilt, secret);
    rebuilt.fill(0);
    if (!ok) throw new Error("the shares do not rebuild the key; nothing was sent");
    const shares = [];
    for (const [i, custodian] of custodians.entries()) {
      const mnemonic = normalise(mnemonics[i]);
      const file = { v: 1, kind: SHARE_KIND, tender, kid, threshold, count, index: i + 1, mnemonic,
        fingerprint: fingerprint(mnemonic) };
      const recipientPublicKey = await suite.kem.deserializePublicKey(fromB64(custodian.public_key));
      const { enc, ct } = await suite.seal({ recipientPublicKey, info: sealInfo(ceremony, custodian.user, kid) },
        utf8(canonicalJson(file)));
      shares.push({ custodian: custodian.user, enc: b64(new Uint8Array(enc)), ct: b64(new Uint8Array(ct)),
        fingerprint: file.fingerprint });
    }
    mnemonics.fill("");
    state = await api("POST", `${base}/shares`, { ceremony, public_key: b64(publicKey), kid, threshold, count,
      shares });
  } finally {
    secret.fill(0);  // best effort: the engine may have copied it (WebCrypto, BigInt arithmetic)
  }
}

async function openMine(mine) {
  const plain = await suite.open({ recipientKey: ephemeral.pair, enc: fromB64(mine.sealed.enc),
    info: sealInfo(state.ceremony, me, state.kid) }, fromB64(mine.sealed.ct));
  const share = JSON.parse(new TextDecoder().decode(plain));
  decodeShare(share.mnemonic);  // the words are a well-formed share (checksum)
  if (share.kind !== SHARE_KIND || share.tender !== tender || share.kid !== state.kid
      || share.threshold !== state.threshold || share.count !== state.count
      || share.fingerprint !== mine.sealed.fingerprint || fingerprint(share.mnemonic) !== share.fingerprint) {
    throw new Error("the share does not match");
  }
  return share;
}

// ---------------------------------------------------------------- the page

function status(message, kind = "") {
  const box = $("ceremony-status");
  box.hidden = !message;
  box.textContent = message || "";
  box.className = `flash ${kind}`.trim();
}

function refused(error) {
  status(error instanceof ApiError ? `${labels.error} ${error.message}` : error.message, "error");
}

function mineOf() { return state.custodians.find((c) => c.user === me) || null; }

function drawCustodians() {
  const body = $("custodians").querySelector("tbody");
  body.replaceChildren(...state.custodians.map((c) => {
    const row = document.createElement("tr");
    row.dataset.user = String(c.user);
    const words = [c.confirmed ? labels.confirmed : labels.joined];
    if (c.position === 1 && state.state === "joining") words.push(labels.dealer);
    if (c.user === me) words.push(labels.you);
    for (const text of [String(c.position), c.name, words.join(" · ")]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  }));
}

function showShare(share) {
  $("my-share").hidden = false;
  $("share-summary").textContent = labels.share_of.replace("{i}", share.index).replace("{n}", share.count)
    .replace("{k}", share.threshold);
  $("share-words").replaceChildren(...share.mnemonic.split(" ").map((word) => {
    const item = document.createElement("li");
    item.textContent = word;
    return item;
  }));
  $("share-tender").textContent = String(share.tender);
  $("share-kid").textContent = share.kid;
  $("share-fingerprint").textContent = share.fingerprint;
  $("confirm-step").hidden = false;
}

function hideShare() {
  $("share-words").replaceChildren();
  $("my-share").hidden = true;
}

async function draw() {
  const mine = mineOf();
  const open = state.state === "joining" || state.state === "sealed";
  $("ceremony-state").textContent = labels[state.state] || state.state;
  $("ceremony-rule").textContent = state.count ? `${state.threshold} / ${state.count}` : "—";
  $("ceremony-kid").textContent = state.kid || "—";
  if (state.registered_kid) $("registered-kid").textContent = state.registered_kid;
  drawCustodians();
  const full = state.custodians.length >= (state.count || 0);
  $("join-step").hidden = !(state.state === "joining" && !mine && !full);
  $("deal-step").hidden = !(state.state === "joining" && full && mine?.position === 1 && ephemeral);
  if ($("cancel")) $("cancel").hidden = !open;
  if ($("start-form")) $("start-form").hidden = open;
  if (root.dataset.draft !== "true") { status(labels.not_draft); return; }
  if (state.state === "completed") { hideShare(); status(labels.done, "success"); return; }
  if (!open) { hideShare(); status(""); return; }
  if (mine && (!ephemeral || ephemeral.ceremony !== state.ceremony) && !mine.confirmed) {
    status(labels.lost_key, "error");
    return;
  }
  if (state.state === "joining") {
    status(mine ? (full ? (mine.position === 1 ? "" : labels.wait_deal) : labels.wait_join) : "");
    return;
  }
  // sealed
  if (!mine) { status(""); return; }
  if (mine.confirmed) { hideShare(); status(labels.wait_confirm); return; }
  if (opened?.ceremony !== state.ceremony && mine.sealed) {
    status(labels.opening);
    try {
      opened = { ceremony: state.ceremony, share: await openMine(mine) };
    } catch {
      status(labels.bad_share, "error");
      return;
    }
    showShare(opened.share);
  }
  status(labels.keep_first);
}

async function act(work) {
  if (busy) return;
  busy = true;
  try {
    await work();
    await draw();
  } catch (error) {
    refused(error);
  } finally {
    busy = false;
  }
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function poll() {
  if (!busy) {
    try {
      const next = await api("GET", base);
      if (JSON.stringify(next) !== JSON.stringify(state)) {
        state = next;
        await draw();
      }
    } catch {
      // a dropped request: the next poll tries again
    }
  }
  if (state.state !== "completed") setTimeout(poll, POLL_MS);
}

$("join").addEventListener("click", () => act(joinCeremony));
$("deal").addEventListener("click", () => act(async () => {
  status(labels.making);
  await deal();
}));
$("download-share").addEventListener("click", () => {
  if (opened) download(`share-${opened.share.index}.json`, `${JSON.stringify(opened.share, null, 2)}\n`, "application/json");
});
$("download-words").addEventListener("click", () => {
  if (opened) download(`share-${opened.share.index}.txt`, `${opened.share.mnemonic}\n`, "text/plain");
});
$("print-share").addEventListener("click", () => window.print());
$("confirm").addEventListener("click", () => act(async () => {
  if (!opened) return;
  if (!$("share-kept").checked) { status(labels.keep_first, "error"); return; }
  state = await api("POST", `${base}/confirm`, { ceremony: state.ceremony, fingerprint: opened.share.fingerprint,
    kid: opened.share.kid });
  opened.share.mnemonic = "";
  hideShare();
}));
$("start-form")?.addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    ephemeral = null;
    opened = null;
    state = await api("POST", base, { threshold: Number($("threshold").value), count: Number($("count").value) });
  });
});
$("cancel")?.addEventListener("click", () => act(async () => {
  state = await api("POST", `${base}/cancel`, { ceremony: state.ceremony });
  ephemeral = null;
}));

draw();
setTimeout(poll, POLL_MS);

// The bidder's pages: make keys (/bidder/keys) and seal and submit a bid (/tenders/<id>/submit).
//
// Loaded as an ES module from /static, so it runs under the platform's `script-src 'self'` CSP.
// The pages' translated texts come from data-* attributes of the #messages element.

import { b64, hex, packageParts, seal } from "./envelope.js";
import { downloadKeyFile, generateKeys, KeyFileError, readKeyFile, writeKeyFile } from "./keyfile.js";
import { formatTime } from "./times.js";

const PIECE = 2 * 1024 * 1024;  // bytes per PATCH: a lost connection costs at most this much again
const MAX_FAILURES = 4;          // consecutive failures before we stop and offer a Resume button
const $ = (id) => document.getElementById(id);
const text = (key) => $("messages")?.dataset[key] || key;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** When the platform received the envelope (by its clock), in the one time format, to the second. */
function receiptTime(iso) {
  return iso ? formatTime(iso, { seconds: true }) : "";
}

// ---------------------------------------------------------------- the API, with a bearer token

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

// The API takes bearer tokens only (never cookies, so it needs no CSRF defence); the signed-in
// page asks its session for a short-lived one.
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

function showStatus(element, message, kind = "") {
  element.hidden = false;
  element.className = `flash ${kind}`;
  element.textContent = message;
}

// ---------------------------------------------------------------- /bidder/keys

function keysPage(form) {
  const status = $("keys-status");
  let keys = null;
  let fileText = null;
  const fileName = `ebid-key-${form.dataset.bidder}.json`;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = $("key-password").value;
    if (password.length < 12) return showStatus(status, text("passwordShort"), "error");
    if (password !== $("key-password-again").value) return showStatus(status, text("passwordMismatch"), "error");
    $("generate").disabled = true;
    showStatus(status, text("working"));
    try {
      keys = await generateKeys();
      fileText = await writeKeyFile({ bidder: form.dataset.bidder, keys, password });
    } catch (err) {
      $("generate").disabled = false;
      return showStatus(status, err.name === "NotSupportedError" ? text("unsupported") : `${text("failed")} ${err.message}`, "error");
    }
    downloadKeyFile(fileText, fileName);
    $("key-file-name").textContent = fileName;
    $("register-step").hidden = false;
    status.hidden = true;
    form.hidden = true;
  });

  $("download-again").addEventListener("click", () => downloadKeyFile(fileText, fileName));

  $("register").addEventListener("click", async () => {
    $("register").disabled = true;
    showStatus(status, text("registering"));
    try {
      const registered = await api("POST", "/api/bidder-keys",
        { x25519_public: b64(keys.x25519Public), ed25519_public: b64(keys.ed25519Public) });
      $("x25519-kid").textContent = registered.x25519_kid;
      $("ed25519-kid").textContent = registered.ed25519_kid;
      $("register-step").hidden = true;
      showStatus(status, text("registered"), "success");
      // The private keys now live only in the downloaded file.
      keys.x25519Private.fill(0);
      keys.ed25519Private.fill(0);
    } catch (err) {
      $("register").disabled = false;
      showStatus(status, `${text("failed")} ${err.message}`, "error");
    }
  });
}

// ---------------------------------------------------------------- sealed envelopes kept for resuming

// The upload id goes in sessionStorage, and the sealed envelope (a Blob: the browser keeps it on
// disk) in IndexedDB, so an upload cut by a reload or a crash can go on where the platform stopped.
const pendingKey = (tender) => `ebid-upload:${tender}`;

function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("ebid", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("envelopes");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function store(mode, action) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const request = action(db.transaction("envelopes", mode).objectStore("envelopes"));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

async function remember(tender, pending, blob) {
  sessionStorage.setItem(pendingKey(tender), JSON.stringify(pending));
  try {
    await store("readwrite", (s) => s.put(blob, pending.upload));
  } catch {
    // Without IndexedDB the upload still resumes while the page stays open.
  }
}

async function forget(tender) {
  const pending = JSON.parse(sessionStorage.getItem(pendingKey(tender)) || "null");
  sessionStorage.removeItem(pendingKey(tender));
  if (pending) await store("readwrite", (s) => s.delete(pending.upload)).catch(() => {});
}

// ---------------------------------------------------------------- resumable upload

function patch(upload, offset, body, onSent) {
  // XMLHttpRequest rather than fetch: only it reports upload progress.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PATCH", `/api/uploads/${encodeURIComponent(upload)}`);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Upload-Offset", String(offset));
    xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
    xhr.upload.onprogress = (event) => onSent(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(Number(xhr.getResponseHeader("Upload-Offset")));
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new Error("network error"));
    xhr.onabort = () => reject(new Error("aborted"));
    xhr.send(body);
  });
}

async function serverOffset(upload) {
  const response = await fetch(`/api/uploads/${encodeURIComponent(upload)}`, {
    method: "HEAD", headers: { Authorization: `Bearer ${await bearer()}` }, credentials: "omit", cache: "no-store" });
  if (!response.ok) throw new ApiError(response.status, null);
  return Number(response.headers.get("Upload-Offset"));
}

// A refusal the platform means (a 4xx other than a conflict about the offset or an expired token):
// sending again cannot help.
function isFinal(err) {
  return err instanceof ApiError && err.status >= 400 && err.status < 500 && ![401, 408, 409, 429].includes(err.status);
}

class Stalled extends Error {}

/**
 * Send the envelope from the offset the platform has, piece by piece. After a failure the
 * platform is asked how much it really holds (a cut piece may have partly arrived) and sending
 * goes on from there; after MAX_FAILURES in a row, Stalled is thrown.
 */
async function sendFrom(upload, blob, offset, progress, onRetry) {
  let failures = 0;
  let known = offset !== null;
  while (!known || offset < blob.size) {
    try {
      if (!known) {
        offset = await serverOffset(upload);
        known = true;
        continue;
      }
      await bearer();  // refresh the token between pieces if it is about to expire
      const start = offset;
      // A piece is read into memory (at most PIECE bytes) so that it is sent as plain bytes.
      const body = await blob.slice(start, Math.min(start + PIECE, blob.size)).arrayBuffer();
      offset = await patch(upload, start, body, (sent) => progress(start + sent));
      failures = 0;
    } catch (err) {
      if (isFinal(err)) throw err;
      if (err instanceof ApiError && err.status === 401) token = null;
      failures += 1;
      known = false;
      if (failures >= MAX_FAILURES) throw new Stalled();
      onRetry();
      await sleep(250 * 2 ** failures);
    }
  }
  progress(blob.size);
}

// ---------------------------------------------------------------- /tenders/<id>/submit

function submitPage(form) {
  const tender = Number(form.dataset.tender);
  const status = $("status");
  const setBar = (name, done, total) => {
    const percent = total ? Math.floor((done / total) * 100) : 100;
    $(`${name}-progress`).value = percent;
    $(`${name}-percent`).textContent = `${percent}%`;
  };
  const say = (key, kind = "") => showStatus(status, text(key), kind);
  const fail = (err) => {
    const message = err instanceof KeyFileError ? text("keyWrong") : err.message;
    showStatus(status, `${text("failed")} ${message}`, "error");
    $("seal-submit").disabled = false;
  };

  async function upload(pending, blob) {
    $("progress").hidden = false;
    $("resume-box").hidden = true;
    say("uploading");
    try {
      await sendFrom(pending.upload, blob, pending.offset ?? null, (done) => setBar("upload", done, blob.size),
        () => say("retrying"));
      say("completing");
      const done = await api("POST", `/api/uploads/${encodeURIComponent(pending.upload)}/complete`);
      await forget(tender);
      showReceipt(done, pending);
    } catch (err) {
      if (err instanceof Stalled) {
        say("stalled", "error");
        $("resume-box").hidden = false;
        $("resume").onclick = () => upload({ ...pending, offset: null }, blob);
        return;
      }
      if (isFinal(err)) await forget(tender);
      fail(err);
    }
  }

  function showReceipt(done, pending) {
    const bid = done.bid || {};
    $("receipt-bid").textContent = bid.id ?? "";
    $("receipt-time").textContent = receiptTime(bid.submitted_at);
    $("receipt-envelope").textContent = bid.envelope_sha256 || pending.envelopeHash;
    $("receipt-commitment").textContent = bid.commitment || pending.commitment;
    const pdf = done.receipt_pdf || bid.receipt_pdf;
    if (pdf) $("receipt-pdf").href = pdf; else $("receipt-pdf-box").hidden = true;
    $("receipt").hidden = false;
    form.hidden = true;
    // The receipt must name the envelope sealed here; anything else is the platform's error.
    if (bid.envelope_sha256 && bid.envelope_sha256 !== pending.envelopeHash) say("hashMismatch", "error");
    else status.hidden = true;
  }

  function readForm() {
    const amount = $("price-amount").value.trim();
    // The rules of bidding/package.py: a bid the opening would refuse must not be sealed.
    if (!/^(0|[1-9]\d{0,14})(\.\d{1,2})?$/.test(amount) || !/[1-9]/.test(amount)) throw new Error(text("priceInvalid"));
    const [whole, cents = ""] = amount.split(".");
    const days = $("duration-days").value.trim();
    if (!/^[1-9]\d{0,4}$/.test(days) || Number(days) > 36500) throw new Error(text("durationInvalid"));
    const criteria = {};
    for (const field of form.querySelectorAll("textarea.criterion")) criteria[field.dataset.criterion] = field.value;
    // Two documents of the same name would collide in the package: number the later ones.
    const seen = new Set();
    const documents = Array.from($("documents").files, (file) => {
      let name = file.name;
      for (let i = 2; seen.has(name); i++) name = `${i}-${file.name}`;
      seen.add(name);
      return { name, file };
    });
    return { lot: Number($("lot").value), price: { amount: `${whole}.${cents.padEnd(2, "0")}`, currency: $("price-currency").value },
      duration_days: Number(days), criteria, documents };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let entered;
    try {
      entered = readForm();
    } catch (err) {
      return showStatus(status, err.message, "error");
    }
    const keyFile = $("key-file").files[0];
    const password = $("key-password").value;
    if (!keyFile || !password) return showStatus(status, text("keyMissing"), "error");
    $("seal-submit").disabled = true;
    $("progress").hidden = false;
    setBar("seal", 0, 1);
    setBar("upload", 0, 1);
    try {
      const sealing = await api("GET", `/api/tenders/${tender}/sealing`);
      say("readingKey");
      const keys = await readKeyFile(await keyFile.text(), password);
      const registered = sealing.bidder_key;
      if (!registered || b64(keys.x25519Public) !== registered.x25519_public
          || hex(new Uint8Array(await crypto.subtle.digest("SHA-256", keys.ed25519Public))) !== registered.ed25519_kid) {
        throw new Error(text("keyMismatch"));
      }
      const documentBytes = entered.documents.reduce((n, d) => n + d.file.size, 0);
      if (documentBytes > sealing.max_envelope_size) throw new Error(text("tooLarge"));

      say("sealing");
      // Format version 2: the documents are read once, as they are sealed (bid.json lists no hashes).
      const work = documentBytes + 1;
      const bid = { v: 2, tender, lot: entered.lot, bidder: sealing.bidder, price: entered.price,
        duration_days: entered.duration_days, criteria: entered.criteria };
      const parts = await packageParts(bid, entered.documents, { version: 2 });
      const sealed = await seal({
        tender, lot: entered.lot, bidder: sealing.bidder, parts, chunkSize: sealing.chunk_size || 65536,
        openingKey: Uint8Array.from(atob(sealing.opening_key.public_key), (c) => c.charCodeAt(0)),
        bidderKey: keys.x25519Public, signingKey: keys.signingKey, signerPublic: keys.ed25519Public,
        version: 2, onProgress: (done, total) => setBar("seal", (done / total) * work, work),
      });
      keys.x25519Private.fill(0);
      keys.ed25519Private.fill(0);
      setBar("seal", 1, 1);
      if (sealed.size > sealing.max_envelope_size) throw new Error(text("tooLarge"));

      const started = await api("POST", `/api/tenders/${tender}/lots/${entered.lot}/uploads`, { size: sealed.size });
      const pending = { upload: started.upload, lot: entered.lot, size: sealed.size,
        envelopeHash: sealed.envelopeHash, commitment: sealed.commitment };
      await remember(tender, pending, sealed.blob);
      await upload({ ...pending, offset: started.offset ?? 0 }, sealed.blob);
    } catch (err) {
      fail(err);
    }
  });

  // An upload interrupted earlier in this tab (a reload, a crash) can go on.
  const pending = JSON.parse(sessionStorage.getItem(pendingKey(tender)) || "null");
  if (pending) {
    $("pending").hidden = false;
    $("resume-pending").addEventListener("click", async () => {
      $("pending").hidden = true;
      const blob = await store("readonly", (s) => s.get(pending.upload)).catch(() => null);
      if (!blob) {
        await forget(tender);
        return showStatus(status, text("pendingLost"), "error");
      }
      $("progress").hidden = false;
      setBar("seal", 1, 1);
      await upload({ ...pending, offset: null }, blob);
    });
    $("discard-pending").addEventListener("click", async () => {
      await forget(tender);
      $("pending").hidden = true;
    });
  }
}

if ($("keys-form")) keysPage($("keys-form"));
if ($("submit-form")) submitPage($("submit-form"));

// The supervisor's audit desk (signing/audit_desk.py): each listed entry's inclusion proof checked in
// the browser against the latest signed checkpoint (logproof.js), the tender timeline's chart, and the
// verify page's drop zone. Messages come translated from the page's data-t-* attributes.
import { verifyCheckpoint, verifyEntry } from "./logproof.js";
import { zone } from "./times.js";

function say(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function checkEntries() {
  const table = document.getElementById("log-entries");
  if (!table) return;
  const rows = [...table.querySelectorAll("tr.log-entry")];
  const status = document.getElementById("checkpoint-status");
  const t = table.dataset;
  let vkeys, note, signed;
  try {
    vkeys = (await getJSON("/api/log/key")).vkeys;
    const response = await fetch("/api/log/checkpoint", { credentials: "same-origin" });
    if (!response.ok) throw new Error(`/api/log/checkpoint: HTTP ${response.status}`);
    note = await response.text();
    signed = await verifyCheckpoint(note, vkeys);
    if (status) status.textContent = say(t.tCheckpoint, { n: signed.treeSize });
    table.dataset.checkpointSize = String(signed.treeSize);
  } catch (err) {
    if (status) status.textContent = say(t.tCheckpointBad, { why: err.message });
    for (const row of rows) {
      const cell = row.querySelector(".proof");
      cell.textContent = say(t.tFailed, { why: err.message });
      row.dataset.proof = "failed";
    }
    return;
  }
  // A few at a time: a page lists at most a few hundred entries.
  const queue = rows.slice();
  async function worker() {
    for (let row = queue.shift(); row; row = queue.shift()) await checkRow(row);
  }
  async function checkRow(row) {
    const cell = row.querySelector(".proof");
    const index = Number(row.dataset.index);
    if (index >= signed.treeSize) {
      cell.textContent = t.tPending;
      row.dataset.proof = "pending";
      return;
    }
    let result, answer;
    try {
      answer = await getJSON(`/api/log/entries/${index}?tree_size=${signed.treeSize}`);
      result = await verifyEntry(answer, vkeys, note);
    } catch (err) {
      result = { ok: false, reason: err.message };
    }
    if (result.ok) {
      cell.textContent = say(t.tVerified, { n: signed.treeSize });
      cell.classList.add("ok");
      row.dataset.proof = "verified";
      // The proof itself: the leaf hash, each sibling hash (deepest first) and the signed root.
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = say(t.tProof, { k: answer.inclusion_proof.length });
      const list = document.createElement("pre");
      list.className = "proof-path";
      list.textContent = [`leaf ${answer.leaf_hash}`, ...answer.inclusion_proof.map((h, i) => `${i + 1}. ${h}`),
                          `root ${signed.rootHash}`].join("\n");
      details.append(summary, list);
      cell.append(details);
    } else {
      cell.textContent = say(t.tFailed, { why: result.reason });
      cell.classList.add("bad");
      row.dataset.proof = "failed";
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  table.dataset.checked = "true";
}

function timelineChart() {
  const canvas = document.getElementById("timeline-chart");
  const Chart = window.Chart;
  if (!canvas || !Chart) return;
  const points = JSON.parse(canvas.dataset.points || "[]");
  const times = points.map((p) => Date.parse(p.time));
  const span = times.length ? times[times.length - 1] - times[0] : 0;
  const parts = span < 86_400_000  // within a day: the time to the second; longer: the date and minute
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" };
  const format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { timeZone: zone, ...parts });
  new Chart(canvas, {
    type: "scatter",
    data: {
      datasets: [{
        data: points.map((p, i) => ({ x: Date.parse(p.time), y: i + 1, event: p.event, index: p.index })),
        pointRadius: 4,
      }],
    },
    options: {
      animation: false,
      aspectRatio: 5,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (c) => `#${c.raw.index} ${c.raw.event} · ${format.format(new Date(c.raw.x))}` } },
      },
      scales: {
        x: { type: "linear", ticks: { callback: (v) => format.format(new Date(v)), maxTicksLimit: 6 } },
        // one row per entry, in log order, so entries written in the same second stay apart
        y: { display: false },
      },
    },
  });
  canvas.dataset.drawn = "true";
}

function dropZone() {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("drop-file");
  const form = document.getElementById("drop-form");
  if (!zone || !input || !form) return;
  const label = document.getElementById("drop-label");
  const idle = label ? label.textContent : "";
  const stop = (e) => { e.preventDefault(); e.stopPropagation(); };
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => {
      stop(e);
      zone.classList.add("dragging");
      if (label) label.textContent = zone.dataset.tDragging;
    });
  }
  zone.addEventListener("dragleave", (e) => {
    stop(e);
    zone.classList.remove("dragging");
    if (label) label.textContent = idle;
  });
  zone.addEventListener("drop", (e) => {
    stop(e);
    zone.classList.remove("dragging");
    const files = e.dataTransfer && e.dataTransfer.files;
    if (!files || !files.length) return;
    const transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    form.requestSubmit();
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { stop(e); input.click(); }
  });
  input.addEventListener("change", () => { if (input.files.length) form.requestSubmit(); });
}

checkEntries();
timelineChart();
dropZone();

"""The supervisor's audit desk in the browser: a tender's events found and proved, a dropped PDF verified."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.e2e

# Run in the page: logproof.js against the server's own proof of one entry, then the same proof tampered.
PROOF_CHECKS = """async (index) => {
  const lp = await import("/static/js/logproof.js");
  const vkeys = (await (await fetch("/api/log/key")).json()).vkeys;
  const answer = await (await fetch(`/api/log/entries/${index}`)).json();
  const signed = await lp.verifyCheckpoint(answer.checkpoint, vkeys);
  const args = {leafHash: answer.leaf_hash, index: answer.index, treeSize: answer.tree_size,
                proof: answer.inclusion_proof, rootHash: signed.rootHash};
  const flip = (h) => { const b = Uint8Array.from(atob(h), (c) => c.charCodeAt(0)); b[0] ^= 1;
                        return btoa(String.fromCharCode(...b)); };
  let forgedCheckpoint;
  try {
    const size = answer.tree_size;
    await lp.verifyCheckpoint(answer.checkpoint.replace(`\\n${size}\\n`, `\\n${size + 1}\\n`), vkeys);
    forgedCheckpoint = "accepted";
  } catch (err) { forgedCheckpoint = "refused"; }
  return {
    genuine: await lp.verifyInclusion(args),
    leaf: (await lp.leafHashOf(answer.entry)) === answer.leaf_hash,
    sameRoot: signed.rootHash === answer.root_hash && signed.treeSize === answer.tree_size,
    tamperedProof: args.proof.length
      ? await lp.verifyInclusion({...args, proof: [flip(args.proof[0]), ...args.proof.slice(1)]})
      : await lp.verifyInclusion({...args, rootHash: flip(args.rootHash)}),
    tamperedLeaf: await lp.verifyInclusion({...args, leafHash: flip(args.leafHash)}),
    shortProof: await lp.verifyInclusion({...args, proof: args.proof.slice(1)}),
    forgedCheckpoint,
    entry: await lp.verifyEntry(answer, vkeys),
  };
}"""

DROP = """(b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "notice.pdf", {type: "application/pdf"}));
  return transfer;
}"""


def test_supervisor_finds_a_tenders_events_and_verifies_a_dropped_pdf(zh_page, live_server) -> None:
    page = zh_page
    page.goto("/login")
    page.fill("input[name=username]", "supervisor")
    page.fill("input[name=password]", live_server.password("supervisor"))
    page.click("button[type=submit]")
    page.wait_for_url("**/supervision")  # the supervisor's home: the dashboard

    # The audit log from the navigation, searched by tender; then that tender's timeline.
    page.click("#nav-audit-log")
    page.fill("#f-tender", "1")
    page.fill("#f-kind", "tender")
    page.click("#log-search button")
    page.wait_for_url("**/audit/log?*tender=1*")
    assert page.locator("tr.log-entry").count() >= 1
    page.click("#to-timeline")
    page.wait_for_url("**/audit/tenders/1/timeline")
    assert page.locator("h1").inner_text() == "招标项目 1 的时间线"
    events = page.locator("tr.log-entry").evaluate_all("rows => rows.map(r => r.dataset.event)")
    assert "tender.published" in events
    indexes = page.locator("tr.log-entry").evaluate_all("rows => rows.map(r => Number(r.dataset.index))")
    assert indexes == sorted(indexes)
    # Every entry's inclusion proof checked in the browser against the latest signed checkpoint.
    page.wait_for_selector("#log-entries[data-checked=true]")
    first = page.locator("tr.log-entry").first
    assert first.get_attribute("data-proof") == "verified"
    assert "已验证" in first.locator(".proof").inner_text()
    assert "root " in first.locator(".proof pre.proof-path").text_content()  # the proof itself, shown
    assert page.locator("#timeline-chart[data-drawn=true]").count() == 1

    checks = page.evaluate(PROOF_CHECKS, indexes[0])
    assert checks["genuine"] and checks["leaf"] and checks["sameRoot"] and checks["entry"]["ok"]
    assert checks["tamperedProof"] is False and checks["tamperedLeaf"] is False
    assert checks["shortProof"] is False and checks["forgedCheckpoint"] == "refused"

    # The tender notice, downloaded from the timeline's link, dropped on the verify page.
    pdf_link = page.locator("#timeline-documents a[href$='/pdf']").first
    pdf = page.request.get(pdf_link.get_attribute("href")).body()
    assert pdf.startswith(b"%PDF-")
    page.goto("/audit/verify")
    transfer = page.evaluate_handle(DROP, base64.b64encode(pdf).decode())
    with page.expect_navigation():
        page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    assert page.locator("#pdf-result").get_attribute("data-verified") == "yes"
    assert "已验证" in page.locator("#pdf-verified").inner_text()

    # The same file with one byte changed, chosen with the file input: not verified.
    at = pdf.index(b"/Type") + 1
    tampered = pdf[:at] + bytes([pdf[at] ^ 0x20]) + pdf[at + 1:]
    with page.expect_navigation():
        page.set_input_files("#drop-file", files=[{"name": "changed.pdf", "mimeType": "application/pdf",
                                                    "buffer": tampered}])
    assert page.locator("#pdf-result").get_attribute("data-verified") == "no"
    assert page.locator("#pdf-not-verified").is_visible()

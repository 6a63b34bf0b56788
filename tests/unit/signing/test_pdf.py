"""Rendered documents carry Chinese text; PAdES signatures hold up in pyHanko and in poppler's pdfsig."""

import asyncio
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields

from signing.ca import CertificateAuthority, certificate_pem
from signing.pdf import (
    SIGNATURE_BAND,
    PdfSignatureError,
    format_time,
    inspect_pdf,
    render_document,
    sign_pdf,
)
from signing.timestamps import LocalTimestamper

NOW = datetime.now(UTC)
TITLE = "招标公告 开标记录"
TOOLS = {"pdffonts": "poppler-utils", "pdftotext": "poppler-utils", "pdfsig": "poppler-utils",
         "certutil": "libnss3-tools"}


def _tool(name: str) -> str:
    """Path of a command-line tool, failing (not skipping) with the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install {TOOLS[name]}")
    return path


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    label: str


@dataclass(frozen=True)
class Pki:
    ca: CertificateAuthority
    tsa: LocalTimestamper
    agency: Signer
    expert: Signer
    second_expert: Signer


def _signer(ca: CertificateAuthority, cn: str, org: str) -> Signer:
    key, cert = ca.issue(cn, organisation=org, kind="document_signer", now=NOW)
    assert key is not None
    return Signer(key, cert, f"{cn} {org}")


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = CertificateAuthority.create("ebid 测试根 CA", now=NOW)
    tsa_key, tsa_cert = ca.issue("ebid TSA", kind="timestamping", now=NOW)
    assert tsa_key is not None
    return Pki(
        ca=ca,
        tsa=LocalTimestamper(tsa_cert, tsa_key, chain=[ca.certificate]),
        agency=_signer(ca, "张三", "某某招标代理有限公司"),
        expert=_signer(ca, "李四", "评标委员会"),
        second_expert=_signer(ca, "王五", "评标委员会"),
    )


def _sign(
    pki: Pki,
    pdf: bytes,
    who: Signer,
    field: str,
    *,
    certify: bool,
    location: str | None = None,
    reserve_fields: tuple[str, ...] = (),
) -> bytes:
    return sign_pdf(
        pdf,
        signer_key=who.key,
        signer_cert=who.cert,
        ca_cert=pki.ca.certificate,
        timestamper=pki.tsa,
        field_name=field,
        signer_label=who.label,
        certify=certify,
        reason="开标记录确认" if certify else "评标专家签字",
        location=location,
        reserve_fields=reserve_fields,
    )


@pytest.fixture(scope="module")
def document() -> bytes:
    return render_document(
        TITLE,
        [
            "本项目采用电子招标方式，开标时间为 2025-03-01 09:30。",
            "Bids are opened remotely. <b>not markup</b>",
        ],
        [["投标人", "报价（元）", "工期"], ["某某建设有限公司", "1,234,567.00", "180 天"]],
        lang="zh",
    )


@pytest.fixture(scope="module")
def certified(pki: Pki, document: bytes) -> bytes:
    return _sign(
        pki, document, pki.agency, "agency", certify=True, location="北京", reserve_fields=("expert1",)
    )


@pytest.fixture(scope="module")
def two_signed(pki: Pki, certified: bytes) -> bytes:
    return _sign(pki, certified, pki.expert, "expert1", certify=False)


@pytest.fixture(scope="module")
def nss_db(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An NSS database that trusts only the test CA, as pdfsig reads trust from NSS."""
    certutil = _tool("certutil")
    db = tmp_path_factory.mktemp("nss")
    ca_pem = db / "ca.pem"
    ca_pem.write_bytes(certificate_pem(pki.ca.certificate))
    subprocess.run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{db}", "-n", "ebid-test-ca", "-t", "CT,C,C", "-a", "-i", str(ca_pem)],
        check=True,
        capture_output=True,
    )
    return f"sql:{db}"


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    # Every font is embedded with a ToUnicode map: no poppler-data table is needed to read the text.
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    result = subprocess.run([_tool("pdftotext"), str(path), "-"], capture_output=True, check=True)
    return result.stdout.decode("utf-8")


def _pdfsig(pdf: bytes, nss_db: str, tmp_path: Path) -> list[str]:
    """pdfsig's report split per signature, newest first (pdfsig's order)."""
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [_tool("pdfsig"), "-nssdir", nss_db, str(path)], capture_output=True, text=True, check=False
    )
    blocks = result.stdout.split("Signature #")[1:]
    assert blocks, f"pdfsig found no signatures: {result.stdout}{result.stderr}"
    return blocks


def _field(block: str) -> str:
    return block.split("Signature Field Name: ", 1)[1].split("\n", 1)[0].strip()


def test_chinese_document_text_is_extractable(document: bytes, tmp_path: Path) -> None:
    text = _pdftotext(document, tmp_path)
    assert "招标公告" in text and "开标记录" in text
    assert "某某建设有限公司" in text and "报价（元）" in text
    assert "<b>not markup</b>" in text
    assert "签章" in text


def test_english_document_renders_with_a_chinese_name(tmp_path: Path) -> None:
    pdf = render_document("Bid opening record", ["Opened by 张三."], None, lang="en")
    text = _pdftotext(pdf, tmp_path)
    assert "Bid opening record" in text and "张三" in text and "Signatures" in text


def test_two_signatures_are_intact_trusted_and_timestamped(
    pki: Pki, certified: bytes, two_signed: bytes
) -> None:
    assert two_signed.startswith(certified), "the approval signature must be an incremental update"
    first, second = inspect_pdf(two_signed, [pki.ca.certificate])
    assert (first.field_name, second.field_name) == ("agency", "expert1")
    for report in (first, second):
        assert report.intact and report.valid and report.trusted and report.ok, report.message
        assert report.timestamp_valid and report.time_from_timestamp
        assert report.signing_time is not None
        assert abs(report.signing_time - datetime.now(UTC)) < timedelta(minutes=5)
    assert (first.signer_common_name, first.signer_organisation) == ("张三", "某某招标代理有限公司")
    assert (second.signer_common_name, second.signer_organisation) == ("李四", "评标委员会")
    assert first.certification and not second.certification
    # The certification covers its own revision; the approval that followed only filled a reserved field.
    assert first.coverage == "entire_revision" and first.modification_level == "form_filling"
    assert first.docmdp_ok
    assert second.coverage == "entire_file" and second.modification_level == "none"
    assert second.message.startswith("Valid signature by 李四")


def test_signatures_are_untrusted_under_another_root(pki: Pki, two_signed: bytes) -> None:
    other = CertificateAuthority.create("not ours", now=NOW)
    reports = inspect_pdf(two_signed, [other.certificate])
    assert all(r.intact and not r.trusted and not r.ok for r in reports)


def test_stamps_name_the_signers_in_chinese(pki: Pki, two_signed: bytes, tmp_path: Path) -> None:
    # beside the seal and in the signature's frame, wrapped to the box (so compared without the breaks)
    text = "".join(_pdftotext(two_signed, tmp_path).split())
    assert "".join(pki.agency.label.split()) in text and "".join(pki.expert.label.split()) in text


def test_signature_boxes_do_not_overlap(pki: Pki) -> None:
    # Approval-only signatures may each add their own field; every one must land in its own slot.
    plain = render_document("Award notice", ["Awarded."], None, lang="en")
    for i, who in enumerate((pki.agency, pki.expert, pki.second_expert)):
        plain = _sign(pki, plain, who, f"s{i}", certify=False)
    reader = PdfFileReader(BytesIO(plain))
    rects = [tuple(float(v) for v in sig.sig_field["/Rect"]) for sig in reader.embedded_signatures]
    assert len(rects) == 3
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    assert all(r.ok for r in inspect_pdf(plain, [pki.ca.certificate]))


def test_a_document_for_a_large_panel_gets_a_taller_band_below_its_text(pki: Pki) -> None:
    # 25 experts and the certifier: seven rows of boxes, none on the text, none on another, the last signable.
    experts = tuple(f"expert{n}" for n in range(1, 26))
    text = ["评标委员会成员逐一签字。"] * 30
    pdf = render_document("Evaluation report", text, None, lang="zh", signatures=1 + len(experts))
    pdf = _sign(pki, pdf, pki.agency, "platform", certify=True, reserve_fields=experts)
    pdf = _sign(pki, pdf, pki.expert, "expert25", certify=False)
    reader = PdfFileReader(BytesIO(pdf))
    rects = [tuple(float(v) for v in ref.get_object()["/Rect"])
             for _name, _value, ref in fields.enumerate_sig_fields(reader)]
    assert len(rects) == 26
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    top = max(r[3] for r in rects)
    assert top > SIGNATURE_BAND + 56  # taller than the usual three rows
    assert [r.ok for r in inspect_pdf(pdf, [pki.ca.certificate])] == [True, True]
    with pytest.raises(PdfSignatureError, match="room for 48 signatures, not 49"):
        render_document("t", [], None, lang="en", signatures=49)


def test_certified_document_refuses_unreserved_field(pki: Pki, certified: bytes) -> None:
    with pytest.raises(PdfSignatureError, match="no empty signature field 'intruder'"):
        _sign(pki, certified, pki.second_expert, "intruder", certify=False)
    with pytest.raises(PdfSignatureError, match="only the first signature may certify"):
        _sign(pki, certified, pki.expert, "expert1", certify=True)


def test_pdfsig_reports_valid_trusted_and_whole_document(
    two_signed: bytes, nss_db: str, tmp_path: Path
) -> None:
    blocks = _pdfsig(two_signed, nss_db, tmp_path)
    assert [_field(b) for b in blocks] == ["expert1", "agency"]
    for block in blocks:
        assert "Signature is Valid." in block, block
        assert "Certificate is Trusted." in block, block
        assert "ETSI.CAdES.detached" in block
    newest, oldest = blocks
    # The newest signature covers every byte: nothing was modified after it was signed.
    assert "Total document signed" in newest and "Not total document signed" not in newest
    assert "Not total document signed" in oldest


def test_flipped_byte_in_first_revision_breaks_both(
    pki: Pki, two_signed: bytes, nss_db: str, tmp_path: Path
) -> None:
    tampered = bytearray(two_signed)
    # The header comment lies inside the byte range of both signatures and parses either way.
    at = tampered.index(b"ReportLab Generated PDF document")
    tampered[at] ^= 0x01
    reports = inspect_pdf(bytes(tampered), [pki.ca.certificate])
    assert [r.intact for r in reports] == [False, False]
    assert all(not r.valid and not r.ok and "changed after" in r.message for r in reports)
    for block in _pdfsig(bytes(tampered), nss_db, tmp_path):
        assert "Signature is Valid." not in block
        assert "Digest Mismatch" in block or "Signature is Invalid" in block, block


def test_flipped_byte_in_last_revision_breaks_only_the_last(
    pki: Pki, certified: bytes, two_signed: bytes, nss_db: str, tmp_path: Path
) -> None:
    tampered = bytearray(two_signed)
    # A digit of the approval signature's /M date: after /Contents, inside its second byte range.
    at = tampered.rindex(b"/M (D") + len(b"/M (D\\072") + 3
    assert at > len(certified)
    tampered[at] = ord("0") if tampered[at] != ord("0") else ord("1")
    first, second = inspect_pdf(bytes(tampered), [pki.ca.certificate])
    assert first.intact and not second.intact and not second.ok
    newest, oldest = _pdfsig(bytes(tampered), nss_db, tmp_path)
    assert "Signature is Valid." not in newest
    assert "Signature is Valid." in oldest


def test_unparseable_pdf_raises(pki: Pki) -> None:
    with pytest.raises(PdfSignatureError, match="cannot parse"):
        inspect_pdf(b"%PDF-1.7\nthis is not a PDF", [pki.ca.certificate])


def test_ragged_table_and_slot_overflow_are_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="same, non-zero number of cells"):
        render_document("t", [], [["a", "b"], ["c"]], lang="en")
    plain = render_document("t", [], None, lang="en")
    with pytest.raises(PdfSignatureError, match="outside the 12 slots"):
        sign_pdf(
            plain,
            signer_key=pki.agency.key,
            signer_cert=pki.agency.cert,
            ca_cert=pki.ca.certificate,
            timestamper=pki.tsa,
            field_name="late",
            signer_label="late",
            certify=False,
            reason="r",
            box_index=12,
        )


# -- one signing pass, a reserve computed from the certificates (issue 17) ----------------------------------


def _containers(pdf: bytes) -> list[tuple[int, int]]:
    """(bytes reserved for /Contents, bytes of the CMS SignedData in it) per signature."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    return [(len(bytes(s.sig_object["/Contents"])), len(s.signed_data.dump()))
            for s in reader.embedded_regular_signatures]


def test_a_signature_is_built_once_without_a_dry_run(pki: Pki, document: bytes, monkeypatch) -> None:
    """pyHanko's size estimate signs a throw-away container first; the computed reserve makes it unneeded."""
    from pyhanko.sign.signers import pdf_signer

    def no_dry_run(*_args, **_kwargs):
        raise AssertionError("the signature container was built twice (a dry run to measure it)")

    monkeypatch.setattr(pdf_signer.PdfSigningSession, "estimate_signature_container_size", no_dry_run)
    # pyHanko asks a time-stamper once for a sample token, kept for its life, to find the TSA's
    # certificates for the validation data; whether an earlier test in this worker already did depends
    # on how pytest-xdist shared out the tests. Ask for it now, so only the signatures' stamps are counted.
    asyncio.run(pki.tsa.async_dummy_response("sha256"))
    stamps = []
    original = LocalTimestamper.request_tsa_response
    monkeypatch.setattr(LocalTimestamper, "request_tsa_response",
                        lambda self, req: stamps.append(1) or original(self, req))
    certified = _sign(pki, document, pki.agency, "agency", certify=True, reserve_fields=("expert1",))
    signed = _sign(pki, certified, pki.expert, "expert1", certify=False)
    assert len(stamps) == 2, "one time-stamp per signature, none thrown away"
    assert all(r.ok for r in inspect_pdf(signed, [pki.ca.certificate]))


def test_the_reserve_fits_large_certificates_an_rsa_tsa_and_a_longer_chain(document: bytes) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    long_org = "某某省某某市公共资源交易中心电子招标投标平台"  # 66 bytes of UTF-8
    ca = CertificateAuthority.create("测试根证书颁发机构很长的名称用于测试预留", now=NOW,  # 60 bytes
                                     organisation=long_org)
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    _none, tsa_cert = ca.issue("时间戳服务单元 RSA 4096", organisation=long_org, kind="timestamping",
                               public_key=tsa_key.public_key(), now=NOW)
    signer = _signer(ca, "欧阳某某某某某某某某某某某某某某某某", long_org)
    other = CertificateAuthority.create("another root in the chain", now=NOW, organisation=long_org)
    big = Pki(ca=ca, tsa=LocalTimestamper(tsa_cert, tsa_key, chain=[ca.certificate, other.certificate]),
              agency=signer, expert=signer, second_expert=signer)
    signed = _sign(big, document, signer, "agency", certify=True)
    (report,) = inspect_pdf(signed, [ca.certificate])
    assert report.ok and report.timestamp_valid, report.message
    ((reserved, used),) = _containers(signed)
    assert used < reserved < 2 * used, (reserved, used)


def test_the_reserve_wastes_no_more_than_pyhankos_estimate(two_signed: bytes) -> None:
    """pyHanko's estimate is the dry run's size plus half; the computed reserve stays within that."""
    for reserved, used in _containers(two_signed):
        assert used < reserved <= 1.6 * used, (reserved, used)


def test_a_remote_tsa_keeps_the_estimate(pki: Pki) -> None:
    """A remote TSA's token size is not known beforehand: pyHanko measures it (signature_reserve is None)."""
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from signing.pdf import signature_reserve

    remote = HTTPTimeStamper("http://127.0.0.1:9/tsa")
    assert signature_reserve(pki.agency.cert, pki.agency.key, [pki.ca.certificate], remote) is None
    assert signature_reserve(pki.agency.cert, pki.agency.key, [pki.ca.certificate], pki.tsa) > 0


# Issue 15: the documents embed their font (a subset of Noto Sans CJK SC), no glyph is missing, the
# institution's seal is round and red with its Chinese name, and every time reads in one format.

TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 北京时间")


def _pdffonts(pdf: bytes, tmp_path: Path) -> list[dict[str, str]]:
    """pdffonts' table: one dict per font (name, type, emb, sub, uni)."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([_tool("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines()[2:]:
        cells = line.split()
        # name, type (one or two words), encoding, emb, sub, uni, object, generation
        rows.append({"name": cells[0], "emb": cells[-5], "sub": cells[-4], "uni": cells[-3]})
    return rows


def test_every_font_is_an_embedded_subset_with_its_unicode_map(two_signed: bytes, tmp_path: Path) -> None:
    rows = _pdffonts(two_signed, tmp_path)
    # the body (regular and bold) and each signature appearance's fonts
    assert len(rows) >= 4, rows
    assert all(row["emb"] == "yes" and row["sub"] == "yes" and row["uni"] == "yes" for row in rows), rows
    assert all("NotoSansCJKsc" in row["name"] for row in rows), rows


def test_an_english_document_embeds_its_font_too(tmp_path: Path) -> None:
    # Latin text, the table cells' default and the canvas's first font were Helvetica (never embedded).
    pdf = render_document("Award notice", ["Awarded to ACME Ltd."],
                          [["Bidder", "Price"], ["ACME", "1,000.00"]], lang="en")
    rows = _pdffonts(pdf, tmp_path)
    assert rows and all(row["emb"] == "yes" for row in rows), rows
    assert not any("Helvetica" in row["name"] for row in rows)


def test_no_glyph_is_missing_the_minus_sign_included(tmp_path: Path) -> None:
    from signing import fonts

    text = ["偏差 −3.50 分；报价 ¥1,234,567.00；≥ 60%；— 完 —", "Spaces\u202fand\u2009thin ones"]
    pdf = render_document("评标报告 − 得分", text, [["项目", "得分"], ["价格分", "−2.00"]], lang="zh_CN")
    extracted = _pdftotext(pdf, tmp_path)
    assert "−3.50" in extracted and "−2.00" in extracted and "评标报告 − 得分" in extracted
    # every character the document shows has a glyph in the font it embeds
    assert fonts.regular().missing(extracted) == set()
    assert fonts.bold().missing("评标报告 − 得分") == set()


def test_subsets_hold_only_the_documents_characters() -> None:
    from signing import fonts

    subset = fonts.regular().subset(["招标−"])
    assert set(subset.glyph_ids) == {"招", "标", "−"}
    assert len(subset.data) < 20_000  # not the 19 MB collection
    assert all(gid > 0 for gid in subset.glyph_ids.values())


def _seal_appearance(pdf: bytes, field: str) -> tuple[bytes, dict[str, str]]:
    """A signature widget's appearance stream and, per font resource, the text it shows: the seal's name
    character by character, the text beside it line by line (joined by a space)."""
    reader = PdfFileReader(BytesIO(pdf))
    sig = next(s for s in reader.embedded_signatures if s.field_name == field)
    appearance = sig.sig_field["/AP"]["/N"].get_object()
    ops = appearance.data
    shown: dict[str, str] = {}
    for name, font in appearance["/Resources"]["/Font"].items():
        cmap = font.get_object()["/ToUnicode"].get_object().data.decode()
        pairs = re.findall(r"<([0-9a-f]{4})> <([0-9a-f]{4})>", cmap)
        to_char = {int(g, 16): chr(int(u, 16)) for g, u in pairs}
        runs = re.findall(rb"%s [\d.]+ Tf [-\d. ]+ Tm <([0-9a-f]*)> Tj" % name.encode(), ops)
        lines = ["".join(to_char[int(run[i:i + 4], 16)] for i in range(0, len(run), 4)) for run in runs]
        shown[name] = ("" if name == "/SealName" else " ").join(lines)
    return ops, shown


def test_the_certifying_seal_is_round_and_red_with_the_chinese_name(pki: Pki, document: bytes) -> None:
    signed = sign_pdf(document, signer_key=pki.agency.key, signer_cert=pki.agency.cert,
                      ca_cert=pki.ca.certificate, timestamper=pki.tsa, field_name="platform",
                      signer_label="e-Bidding Platform", seal_name="电子招标投标交易平台", certify=True,
                      reason="招标公告")
    ops, shown = _seal_appearance(signed, "platform")
    assert b"0.902 0.000 0.071 RG" in ops  # red
    assert ops.count(b" c ") >= 4  # the ring: four Bezier quarters
    assert shown["/SealName"] == "电子招标投标交易平台"  # along the arc, one character per text matrix
    assert TIME.match(shown["/SealText"]) and shown["/SealText"].endswith("e-Bidding Platform")
    assert inspect_pdf(signed, [pki.ca.certificate])[0].ok


def test_the_seal_shows_the_signing_time_in_beijing_time(pki: Pki, two_signed: bytes) -> None:
    reports = inspect_pdf(two_signed, [pki.ca.certificate])
    for report, field in zip(reports, ("agency", "expert1"), strict=True):
        _ops, shown = _seal_appearance(two_signed, field)
        times = TIME.findall(shown["/SealText"])
        assert len(times) == 1, shown
        shown_at = datetime.strptime(times[0][:19], "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=ZoneInfo("Asia/Shanghai"))
        # the appearance carries the signer's clock; the time-stamp comes a moment later
        assert report.signing_time is not None
        assert timedelta(0) <= report.signing_time - shown_at < timedelta(seconds=30)


def test_a_person_signs_in_a_frame_not_a_seal(two_signed: bytes) -> None:
    _ops, shown = _seal_appearance(two_signed, "expert1")
    assert "/SealName" not in shown and "李四评标委员会" in shown["/SealText"].replace(" ", "")


def test_format_time_names_the_zone() -> None:
    moment = datetime(2026, 12, 6, 16, 37, 26, tzinfo=UTC)
    assert format_time(moment, "Asia/Shanghai") == "2026-12-07 00:37:26 北京时间"
    assert format_time(moment, "Europe/Berlin") == "2026-12-06 17:37:26 UTC+1"
    assert format_time(moment, "Asia/Shanghai", lang="en") == "2026-12-07 00:37:26 Beijing time"


def test_a_missing_font_file_is_refused_naming_the_package(tmp_path: Path) -> None:
    from signing import fonts

    with pytest.raises(fonts.FontMissing, match="fonts-noto-cjk") as caught:
        fonts.CjkFont(tmp_path / "none.ttc")
    assert "PDF_CJK_FONT" in str(caught.value)
    not_a_font = tmp_path / "x.ttf"
    not_a_font.write_bytes(b"hello, world")
    with pytest.raises(fonts.FontMissing, match="not an OpenType or TrueType font"):
        fonts.CjkFont(not_a_font)


def test_the_application_does_not_start_without_its_font(tmp_path: Path) -> None:
    from app import create_app
    from signing import fonts

    with pytest.raises(fonts.FontMissing, match="PDF_CJK_FONT"):
        create_app("test", PDF_CJK_FONT=str(tmp_path / "missing.ttc"), INSTANCE_PATH=str(tmp_path))

"""Render documents with reportlab and sign or inspect them as PAdES with pyHanko."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory, ShapeResult
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase._cidfontdata import CIDFontInfo
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import CondPageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from signing.loops import outside_event_loop
from signing.timestamps import LocalTimestamper, as_asn1_cert

# Adobe's standard Simplified Chinese font: viewers supply it, so nothing is embedded and no font file
# has to ship; poppler maps it through poppler-data.
CJK_FONT = "STSong-Light"
CJK_ENCODING = "UniGB-UCS2-H"
LATIN_FONT = "Helvetica"

MARGIN = 56.0  # about 20 mm on every side
# Signature boxes sit in a grid at the bottom of the last page; render_document keeps that band free.
SLOT_COLUMNS = 4
SLOT_ROWS = 3
SLOT_HEIGHT = 52.0
SLOT_GAP = 8.0
SIGNATURE_BAND = SLOT_ROWS * SLOT_HEIGHT + (SLOT_ROWS - 1) * SLOT_GAP
SIGNATURE_SLOTS = SLOT_COLUMNS * SLOT_ROWS
#: A band grows upwards by whole rows for documents with more signers (a 25-expert panel's report),
#: up to a full A4 page of boxes.
MAX_SIGNATURE_ROWS = 12
MAX_SIGNATURES = SLOT_COLUMNS * MAX_SIGNATURE_ROWS


def band_rows(signatures: int) -> int:
    """Rows of boxes a document signed `signatures` times needs (never fewer than the usual band)."""
    if signatures > MAX_SIGNATURES:
        raise PdfSignatureError(f"a document has room for {MAX_SIGNATURES} signatures, not {signatures}")
    return max(SLOT_ROWS, -(-signatures // SLOT_COLUMNS))


def band_height(signatures: int) -> float:
    rows = band_rows(signatures)
    return rows * SLOT_HEIGHT + (rows - 1) * SLOT_GAP


class PdfSignatureError(Exception):
    """A PDF could not be signed or its signatures could not be read."""


def _cjk_font() -> UnicodeCIDFont:
    """Register the CID font with reportlab once and return it."""
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    font = pdfmetrics.getFont(CJK_FONT)
    assert isinstance(font, UnicodeCIDFont)
    return font


def _needs_cjk(text: str, lang: str) -> bool:
    """Helvetica only covers Latin-1, so anything beyond it (or any Chinese document) uses the CID font."""
    return lang.lower().startswith("zh") or any(ord(ch) > 0xFF for ch in text)


def _para(text: str, lang: str, size: float, *, bold: bool = False, space_after: float = 6) -> Paragraph:
    """Make a paragraph from untrusted plain text (escaped, so '<' is never markup)."""
    cjk = _needs_cjk(text, lang)
    style = ParagraphStyle(
        name="p",
        fontName=CJK_FONT if cjk else ("Helvetica-Bold" if bold else LATIN_FONT),
        fontSize=size,
        leading=size * 1.45,
        spaceAfter=space_after,
        # CJK text has no spaces to break at, so let reportlab break between any two characters.
        wordWrap="CJK" if cjk else None,
    )
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def render_document(title: str, paragraphs: list[str], table: list[list[str]] | None, *, lang: str,
                    signatures: int = SIGNATURE_SLOTS) -> bytes:
    """Lay out a titled A4 document with an optional table, leaving a free signature band at the end
    with room for `signatures` boxes."""
    _cjk_font()
    out = BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author="ebid",
        lang="zh-CN" if lang.lower().startswith("zh") else lang,
    )
    story: list[Any] = [_para(title, lang, 18, bold=True, space_after=14)]
    story += [_para(p, lang, 11) for p in paragraphs]
    if table:
        if not table[0] or any(len(row) != len(table[0]) for row in table):
            raise ValueError("table rows must all have the same, non-zero number of cells")
        story.append(Spacer(1, 6))
        cells = [[_para(cell, lang, 9, space_after=0) for cell in row] for row in table]
        grid = Table(
            cells, repeatRows=1, hAlign="LEFT", colWidths=[doc.width / len(table[0])] * len(table[0])
        )
        grid.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(grid)
    heading = "签章" if lang.lower().startswith("zh") else "Signatures"
    # If the band and its heading do not fit below the content, they move to a fresh last page.
    story += [CondPageBreak(band_height(signatures) + 48), Spacer(1, 12), _para(heading, lang, 11, bold=True)]

    def footer(canvas: Any, _doc: Any) -> None:
        canvas.setFont(LATIN_FONT, 8)
        canvas.drawCentredString(A4[0] / 2, MARGIN / 2, f"- {canvas.getPageNumber()} -")

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _pdf_object(value: Any) -> generic.PdfObject:
    """Translate reportlab's font description (names as '/X', strings as '(X)') into pyHanko objects."""
    if isinstance(value, generic.PdfObject):
        return value
    if isinstance(value, dict):
        return generic.DictionaryObject(
            {generic.NameObject("/" + k): _pdf_object(v) for k, v in value.items()}
        )
    if isinstance(value, list):
        return generic.ArrayObject([_pdf_object(v) for v in value])
    if isinstance(value, str) and value.startswith("/"):
        return generic.NameObject(value)
    if isinstance(value, str) and value.startswith("("):
        return generic.TextStringObject(value[1:-1])
    if isinstance(value, float):
        return generic.FloatObject(value)
    return generic.NumberObject(value)


class _CIDFontEngine(FontEngine):
    """pyHanko font engine for the non-embedded STSong-Light, so stamps can show Chinese names."""

    def __init__(self, writer: BasePdfFileWriter) -> None:
        super().__init__(writer, CJK_FONT, embedded_subset=False)
        self.metrics = _cjk_font()
        self._resource: generic.PdfObject | None = None

    @property
    def uses_complex_positioning(self) -> bool:
        return False

    def shape(self, txt: str) -> ShapeResult:
        # UCS-2 CMap: one 16-bit code per BMP character, written as a hex string.
        code = txt.encode("utf-16-be", errors="replace").hex().encode("ascii")
        return ShapeResult(
            graphics_ops=b"<" + code + b"> Tj", x_advance=self.metrics.stringWidth(txt, 1), y_advance=0
        )

    def as_resource(self) -> generic.PdfObject:
        # Cached: pyHanko asks once per text box, and each call would otherwise add duplicate objects.
        if self._resource is None:
            self._resource = self._build_resource()
        return self._resource

    def _build_resource(self) -> generic.PdfObject:
        """Type0 font dictionary for STSong-Light with reportlab's metrics."""
        info = copy.deepcopy(CIDFontInfo[CJK_FONT])
        info.pop("Name", None)
        info["Encoding"] = "/" + CJK_ENCODING
        descendant = info.pop("DescendantFonts")[0]
        descendant["FontDescriptor"] = self.writer.add_object(_pdf_object(descendant["FontDescriptor"]))
        font = _pdf_object(info)
        assert isinstance(font, generic.DictionaryObject)
        font[generic.NameObject("/DescendantFonts")] = generic.ArrayObject(
            [self.writer.add_object(_pdf_object(descendant))]
        )
        return font


class _CIDFontFactory(FontEngineFactory):
    """Factory handing pyHanko a CID font engine per writer."""

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> FontEngine:
        return _CIDFontEngine(writer)


STAMP_STYLE = TextStampStyle(
    stamp_text="%(label)s\n%(reason)s\n%(ts)s",
    text_box_style=TextBoxStyle(font=_CIDFontFactory(), font_size=8, leading=11),
    timestamp_format="%Y-%m-%d %H:%M:%S %z",
    border_width=1,
    border_color=(0.7, 0.1, 0.1),
)


def _slot_box(index: int, page_width: float, rows: int = SLOT_ROWS) -> tuple[int, int, int, int]:
    """Rectangle of signature slot ``index`` in a band of `rows` rows: left to right from the band's top."""
    if not 0 <= index < rows * SLOT_COLUMNS:
        raise PdfSignatureError(f"signature box {index} is outside the {rows * SLOT_COLUMNS} slots on a page")
    row, col = divmod(index, SLOT_COLUMNS)
    width = (page_width - 2 * MARGIN - (SLOT_COLUMNS - 1) * SLOT_GAP) / SLOT_COLUMNS
    x0 = MARGIN + col * (width + SLOT_GAP)
    y0 = MARGIN + (rows - 1 - row) * (SLOT_HEIGHT + SLOT_GAP)
    return (round(x0), round(y0), round(x0 + width), round(y0 + SLOT_HEIGHT))


def _last_page_width(writer: IncrementalPdfFileWriter) -> float:
    """Width of the last page's MediaBox (A4 if the page inherits it)."""
    page_ref, _resources = writer.find_page_for_modification(-1)
    box = page_ref.get_object().get("/MediaBox")
    return float(box[2]) - float(box[0]) if box is not None else A4[0]


def _sig_fields(writer: IncrementalPdfFileWriter) -> Iterable[tuple[str, bool, Any]]:
    """Signature fields as (name, filled, ref)."""
    for name, value, ref in fields.enumerate_sig_fields(writer):
        yield name, value is not None, ref


def _key_info(key: PrivateKeyTypes) -> keys.PrivateKeyInfo:
    """Convert a cryptography private key to the asn1crypto form pyHanko signs with."""
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return keys.PrivateKeyInfo.load(der)


#: Room for what a CMS SignedData holds beside its certificates, names and signature value: the
#: structure, algorithm identifiers, and the signed attributes (content type, message digest, CMS
#: algorithm protection, ...), about 500 bytes in practice; the rest is margin.
CMS_OVERHEAD = 1024


def _signature_size(key: Any) -> int:
    """Upper bound of a signature value's DER size: ECDSA two integers, RSA the modulus."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return 2 * ((key.curve.key_size + 7) // 8) + 9
    if isinstance(key, rsa.RSAPrivateKey):
        return (key.key_size + 7) // 8
    return 512


def _signer_info_size(cert: asn1_x509.Certificate, key: Any) -> int:
    """The parts of a SignerInfo that grow with its certificate: the issuer name and serial number, twice
    (the signer identifier and the signing-certificate-v2 attribute), and the signature value."""
    issuer = len(cert.issuer.dump()) + len(cert["tbs_certificate"]["serial_number"].dump())
    return 2 * issuer + _signature_size(key)


def signature_reserve(signer_cert: x509.Certificate, signer_key: Any,
                      certificates: Sequence[x509.Certificate], timestamper: TimeStamper) -> int | None:
    """Bytes to reserve for the signature container (hex digits in the PDF), computed from the sizes of
    what goes into it, or None when the time-stamp's size cannot be known beforehand (a remote TSA).

    The container is the seal's CMS SignedData (its certificate and the chain, its SignerInfo) with the
    TSA's token as an unsigned attribute (the TSA certificate and chain, its SignerInfo and the TSTInfo
    naming the TSA); each part is counted from the actual certificates, plus `CMS_OVERHEAD` twice. A
    fixed size lets pyHanko sign once, instead of building the whole container a first time (a dry
    run, with a throw-away time-stamp) only to measure it.
    """
    if not isinstance(timestamper, LocalTimestamper):
        return None
    signer = as_asn1_cert(signer_cert)
    seal = (sum(len(as_asn1_cert(c).dump()) for c in (signer, *certificates))
            + _signer_info_size(signer, signer_key))
    tsa = timestamper.tsa_cert
    token = (sum(len(c.dump()) for c in (tsa, *timestamper.chain))
             + _signer_info_size(tsa, timestamper.tsa_key) + len(tsa.subject.dump()))
    return 2 * (seal + token + 2 * CMS_OVERHEAD)


def _is_certified(writer: IncrementalPdfFileWriter) -> bool:
    """Whether an earlier signature certified the document (a DocMDP entry in the catalog's /Perms)."""
    perms = writer.root.get("/Perms")
    return perms is not None and "/DocMDP" in perms


@outside_event_loop
def sign_pdf(
    pdf_bytes: bytes,
    *,
    signer_key: PrivateKeyTypes,
    signer_cert: x509.Certificate,
    ca_cert: x509.Certificate,
    timestamper: TimeStamper,
    field_name: str,
    signer_label: str,
    certify: bool,
    reason: str,
    location: str | None = None,
    box_index: int | None = None,
    reserve_fields: Sequence[str] = (),
    tsa_trust_roots: Iterable[x509.Certificate] = (),
) -> bytes:
    """Add a visible, time-stamped PAdES signature as an incremental update; certify only the first."""
    # After certification only existing empty fields may be signed: a new visible field is a change
    # DocMDP level 2 forbids (pyHanko's validator enforces it), so the certifier reserves later fields.
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf_bytes), strict=False)
        all_fields = {name: filled for name, filled, _ref in _sig_fields(writer)}
        page_width = _last_page_width(writer)
        certified = _is_certified(writer)
    except (PdfError, ValueError) as exc:
        raise PdfSignatureError(f"cannot read the PDF to sign: {exc}") from exc
    if all_fields.get(field_name):
        raise PdfSignatureError(f"signature field {field_name!r} is already signed")
    if certify and (certified or any(all_fields.values())):
        raise PdfSignatureError("only the first signature may certify a document")
    if certified and field_name not in all_fields:
        raise PdfSignatureError(
            f"the document is certified and has no empty signature field {field_name!r}; "
            "reserve it when certifying"
        )
    if reserve_fields and field_name in all_fields:
        raise PdfSignatureError("fields can only be reserved by a signature that creates its own field")
    new_field = None
    if field_name not in all_fields:
        slot = len(all_fields) if box_index is None else box_index
        # the band render_document left for this many boxes (the certifier reserves every later one)
        rows = band_rows(max(len(all_fields) + 1 + len(reserve_fields), SIGNATURE_SLOTS))
        new_field = fields.SigFieldSpec(
            sig_field_name=field_name, on_page=-1, box=_slot_box(slot, page_width, rows)
        )
        if (
            len({field_name, *reserve_fields}) != 1 + len(reserve_fields)
            or set(reserve_fields) & all_fields.keys()
        ):
            raise PdfSignatureError("reserved signature field names must be new and distinct")
        for offset, name in enumerate(reserve_fields, start=1):
            fields.append_signature_field(
                writer,
                fields.SigFieldSpec(
                    sig_field_name=name, on_page=-1, box=_slot_box(slot + offset, page_width, rows)
                ),
            )
    ca = as_asn1_cert(ca_cert)
    roots = [ca, *(as_asn1_cert(c) for c in tsa_trust_roots)]
    signer = signers.SimpleSigner(
        signing_cert=as_asn1_cert(signer_cert),
        signing_key=_key_info(signer_key),
        cert_registry=SimpleCertificateStore.from_certs([ca]),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        name=signer_label,
        certify=certify,
        docmdp_permissions=MDPPerm.FILL_FORMS,
        subfilter=SigSeedSubFilter.PADES,
        embed_validation_info=True,
        validation_context=ValidationContext(trust_roots=roots, allow_fetching=False),
        signer_key_usage={"non_repudiation"},
        # Validation data goes into the signature's own revision, so the newest signature still covers
        # the whole file (pdfsig: "signed the entire document") instead of being followed by a DSS update.
        dss_settings=DSSContentSettings(
            placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
        ),
    )
    pdf_signer = signers.PdfSigner(
        meta, signer=signer, timestamper=timestamper, stamp_style=STAMP_STYLE, new_field_spec=new_field
    )
    try:
        out = pdf_signer.sign_pdf(
            writer,
            existing_fields_only=new_field is None,
            bytes_reserved=signature_reserve(signer_cert, signer_key, [ca_cert], timestamper),
            appearance_text_params={"label": signer_label, "reason": reason},
        )
    except TimestampRequestError as exc:
        raise PdfSignatureError(f"the time-stamping authority did not answer: {exc}") from exc
    except (SigningError, PdfError) as exc:
        raise PdfSignatureError(f"signing failed: {exc}") from exc
    return out.getvalue()


@dataclass(frozen=True)
class SignatureReport:
    """What a reader needs to know about one signature in a PDF."""

    field_name: str
    signer_common_name: str | None
    signer_organisation: str | None
    signing_time: datetime | None
    time_from_timestamp: bool
    timestamp_valid: bool | None
    intact: bool
    valid: bool
    trusted: bool
    certification: bool
    coverage: str
    modification_level: str | None
    docmdp_ok: bool | None
    message: str

    @property
    def ok(self) -> bool:
        """True when the signature is intact, valid, trusted, properly time-stamped and not overstepped."""
        return (
            self.intact
            and self.valid
            and self.trusted
            and self.timestamp_valid is not False
            and self.docmdp_ok is not False
        )


def _name_part(name: asn1_x509.Name, field: str) -> str | None:
    """Pull one attribute (e.g. common_name) out of a certificate name."""
    value = name.native.get(field)
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def _report(field_name: str, status: PdfSignatureStatus, certification: bool) -> SignatureReport:
    """Turn pyHanko's status object into a report with a sentence a person can read."""
    subject = status.signing_cert.subject
    ts = status.timestamp_validity
    ts_ok = None if ts is None else bool(ts.intact and ts.valid and ts.trusted)
    signing_time = ts.timestamp if ts is not None else status.signer_reported_dt
    coverage = status.coverage.name.lower() if status.coverage is not None else "unclear"
    level = status.modification_level
    who = _name_part(subject, "common_name") or "unknown signer"
    if not status.intact:
        message = f"The document was changed after {who} signed it: the signed bytes no longer match."
    elif not status.valid:
        message = f"The signature by {who} is cryptographically invalid."
    elif not status.trusted:
        message = f"The signature by {who} is intact but its certificate does not chain to a trusted root."
    elif ts_ok is False:
        message = f"The signature by {who} is valid but its time-stamp could not be verified."
    elif status.docmdp_ok is False:
        message = f"The signature by {who} is valid but later changes exceed what the certifier allowed."
    else:
        scope = "the entire file" if status.coverage == SignatureCoverageLevel.ENTIRE_FILE else "its revision"
        when = f", time-stamped {signing_time.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if ts_ok else ""
        message = f"Valid signature by {who}, trusted, covering {scope}{when}."
    return SignatureReport(
        field_name=field_name,
        signer_common_name=_name_part(subject, "common_name"),
        signer_organisation=_name_part(subject, "organization_name"),
        signing_time=signing_time.astimezone(UTC) if signing_time is not None else None,
        time_from_timestamp=ts is not None,
        timestamp_valid=ts_ok,
        intact=bool(status.intact),
        # pyHanko's "valid" only covers the signature over the signed attributes; ours includes the digest.
        valid=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        certification=certification,
        coverage=coverage,
        modification_level=level.name.lower() if level is not None else None,
        docmdp_ok=status.docmdp_ok,
        message=message,
    )


def _broken_report(field_name: str, reason: str, certification: bool) -> SignatureReport:
    """Report for a signature pyHanko could not even evaluate."""
    return SignatureReport(
        field_name=field_name,
        signer_common_name=None,
        signer_organisation=None,
        signing_time=None,
        time_from_timestamp=False,
        timestamp_valid=None,
        intact=False,
        valid=False,
        trusted=False,
        certification=certification,
        coverage="unclear",
        modification_level=None,
        docmdp_ok=None,
        message=f"The signature could not be checked: {reason}",
    )


def _is_certification(sig_object: generic.DictionaryObject) -> bool:
    """A certification signature carries a DocMDP transform in its /Reference array."""
    refs = sig_object.get("/Reference") or []
    return any(ref.get_object().get("/TransformMethod") == "/DocMDP" for ref in refs)


@outside_event_loop
def inspect_pdf(pdf_bytes: bytes, trust_roots: Iterable[x509.Certificate]) -> list[SignatureReport]:
    """Validate every signature in a PDF offline against ``trust_roots``, in signing order."""
    roots = [as_asn1_cert(c) for c in trust_roots]
    try:
        reader = PdfFileReader(BytesIO(pdf_bytes), strict=False)
        embedded = list(reader.embedded_regular_signatures)
    except (PdfError, ValueError, KeyError) as exc:
        raise PdfSignatureError(f"cannot parse the PDF's signatures: {exc}") from exc
    reports = []
    for sig in embedded:
        certification = _is_certification(sig.sig_object)
        # A fresh context per signature: contexts cache validation results and fetchers between uses.
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        try:
            status = validate_pdf_signature(sig, signer_validation_context=context)
        except (SignatureValidationError, PdfError, ValueError, KeyError) as exc:
            reports.append(_broken_report(sig.field_name, str(exc), certification))
            continue
        reports.append(_report(sig.field_name, status, certification))
    return reports

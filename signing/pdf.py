"""Render documents with reportlab and sign or inspect them as PAdES with pyHanko."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko.stamp import TextStamp, TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib import colors
from reportlab.lib import fonts as rl_fonts
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import CondPageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core import display
from signing import fonts
from signing.loops import outside_event_loop
from signing.timestamps import LocalTimestamper, as_asn1_cert

#: Names the document's font subsets get in reportlab's registry (with a serial number, for the time of one
#: rendering: signing/fonts.py makes a font per document).
FONT_PREFIX = "ebid-cjk"

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


def _has_cjk(text: str) -> bool:
    """Whether text holds Chinese (or other East Asian) characters, which break between any two."""
    return any(ord(ch) >= 0x2E80 for ch in text)


@dataclass(frozen=True)
class _Fonts:
    """reportlab's names for this document's regular and bold subsets."""

    regular: str
    bold: str


_serial = itertools.count()


@contextmanager
def _document_fonts(texts: Sequence[str], bold_texts: Sequence[str]) -> Iterator[_Fonts]:
    """Register subsets of the CJK font holding exactly these texts' characters for one rendering.

    reportlab keeps fonts in process-wide maps by name (and `registerFont` hands out the first font
    registered under a face name again, whatever its glyphs); each document's subsets go in under
    fresh names and come out when it is built, so concurrent renderings never share a subset and the
    maps do not grow. reportlab has no public way to unregister, hence its private maps below.
    """
    n = next(_serial)
    names = _Fonts(f"{FONT_PREFIX}-{n}", f"{FONT_PREFIX}-bold-{n}")
    always = ["0123456789- "]  # the page numbers
    subsets = {names.regular: fonts.regular().subset([*texts, *always]),
               names.bold: fonts.bold().subset(bold_texts)}
    for name, subset in subsets.items():
        pdfmetrics._fonts[name] = TTFont(name, BytesIO(subset.data))  # noqa: SLF001
        pdfmetrics.registerFontFamily(name)
    try:
        yield names
    finally:
        for name in subsets:
            pdfmetrics._fonts.pop(name, None)  # noqa: SLF001
            rl_fonts._ps2tt_map.pop(name.lower(), None)  # noqa: SLF001
            for bold, italic in itertools.product((0, 1), repeat=2):
                rl_fonts._tt2ps_map.pop((name.lower(), bold, italic), None)  # noqa: SLF001


def _para(text: str, lang: str, size: float, font: str, *, space_after: float = 6) -> Paragraph:
    """Make a paragraph from untrusted plain text (escaped, so '<' is never markup)."""
    style = ParagraphStyle(
        name="p",
        fontName=font,
        fontSize=size,
        leading=size * 1.45,
        spaceAfter=space_after,
        # CJK text has no spaces to break at, so let reportlab break between any two characters.
        wordWrap="CJK" if lang.lower().startswith("zh") or _has_cjk(text) else None,
    )
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def render_document(title: str, paragraphs: list[str], table: list[list[str]] | None, *, lang: str,
                    signatures: int = SIGNATURE_SLOTS) -> bytes:
    """Lay out a titled A4 document with an optional table, leaving a free signature band at the end
    with room for `signatures` boxes. Every character is drawn in a subset of the CJK font embedded
    in the file (signing/fonts.py)."""
    if table and (not table[0] or any(len(row) != len(table[0]) for row in table)):
        raise ValueError("table rows must all have the same, non-zero number of cells")
    regular, bold = fonts.regular(), fonts.bold()
    heading = "签章" if lang.lower().startswith("zh") else "Signatures"
    title, heading = bold.printable(title), bold.printable(heading)
    paragraphs = [regular.printable(p) for p in paragraphs]
    table = [[regular.printable(cell) for cell in row] for row in table] if table else None
    body = [*paragraphs, *(cell for row in table or [] for cell in row)]
    out = BytesIO()
    with _document_fonts(body, [title, heading]) as names:
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
            # the canvas's first font; otherwise Helvetica, which no PDF embeds
            initialFontName=names.regular,
        )
        story: list[Any] = [_para(title, lang, 18, names.bold, space_after=14)]
        story += [_para(p, lang, 11, names.regular) for p in paragraphs]
        if table:
            story.append(Spacer(1, 6))
            cells = [[_para(cell, lang, 9, names.regular, space_after=0) for cell in row] for row in table]
            grid = Table(
                cells, repeatRows=1, hAlign="LEFT", colWidths=[doc.width / len(table[0])] * len(table[0])
            )
            grid.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        # the cells' own font (Helvetica unless set), though every cell is a paragraph
                        ("FONTNAME", (0, 0), (-1, -1), names.regular),
                    ]
                )
            )
            story.append(grid)
        # If the band and its heading do not fit below the content, they move to a fresh last page.
        story += [CondPageBreak(band_height(signatures) + 48), Spacer(1, 12),
                  _para(heading, lang, 11, names.bold)]

        def footer(canvas: Any, _doc: Any) -> None:
            canvas.setFont(names.regular, 8)
            canvas.drawCentredString(A4[0] / 2, MARGIN / 2, f"- {canvas.getPageNumber()} -")

        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


#: The seal's red (GB/T 38540-2020's electronic seals are red on white; this is the usual #E60012).
SEAL_RED = (0.902, 0.0, 0.071)
#: The round seal: its ring, the arc its name runs along (degrees, centred on the top) and the star.
SEAL_RING = 1.4
SEAL_ARC = 250.0
SEAL_NAME_SIZES = (8.0, 3.5)  # the name's largest and smallest size, points
SEAL_TEXT_SIZES = (7.0, 5.0)  # the text beside the seal


def display_zone() -> str:
    """The time zone documents show times in: the deployment's display zone (core.display), Beijing
    time outside an application (an issuer's own process, the ebid client)."""
    return display.display_timezone()


def format_time(moment: datetime, zone: str | None = None, *, lang: str = "zh_CN") -> str:
    """A time as every document shows it: the platform's one format (core.display.format_time), to the
    second, in the deployment's zone and named: "2026-12-07 00:37:26 北京时间"."""
    return display.format_time(moment, lang, zone or display_zone(), seconds=True)


def chinese_name(label: str) -> str:
    """The Chinese part of a bilingual name ("沙箱银行 Sandbox Bank" -> "沙箱银行"); else the name."""
    words = [word for word in label.split() if _has_cjk(word)]
    return "".join(words) or label


def _wrap(text: str, font: fonts.Subset, size: float, width: float) -> list[str]:
    """Break text into lines no wider than `width`: at spaces, and inside a word only if it must."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if font.width(candidate, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if line and font.width(line + ch, size) > width:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


def _fit(text: str, font: fonts.Subset, width: float, height: float, sizes: tuple[float, float],
         max_lines: int) -> tuple[float, list[str]]:
    """The largest size (in half points, within `sizes`) at which `text` fits the box in few lines."""
    size = sizes[0]
    while True:
        lines = _wrap(text, font, size, width)
        if (len(lines) <= max_lines and len(lines) * size * 1.25 <= height) or size <= sizes[1]:
            return size, lines[:max_lines]
        size -= 0.5


def _circle(cx: float, cy: float, r: float) -> bytes:
    """A circle as four Bézier curves (path only)."""
    k = 0.5523 * r
    return (b"%.2f %.2f m " % (cx + r, cy)
            + b"%.2f %.2f %.2f %.2f %.2f %.2f c " % (cx + r, cy + k, cx + k, cy + r, cx, cy + r)
            + b"%.2f %.2f %.2f %.2f %.2f %.2f c " % (cx - k, cy + r, cx - r, cy + k, cx - r, cy)
            + b"%.2f %.2f %.2f %.2f %.2f %.2f c " % (cx - r, cy - k, cx - k, cy - r, cx, cy - r)
            + b"%.2f %.2f %.2f %.2f %.2f %.2f c h" % (cx + k, cy - r, cx + r, cy - k, cx + r, cy))


def _star(cx: float, cy: float, r: float) -> bytes:
    """A five-pointed star, one point up (path only)."""
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.382
        angle = math.radians(90 + 36 * i)
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    path = b"%.2f %.2f m " % points[0]
    return path + b" ".join(b"%.2f %.2f l" % p for p in points[1:]) + b" h"


def _text(font: bytes, subset: fonts.Subset, text: str, size: float, matrix: tuple[float, ...]) -> bytes:
    """Show text at a text matrix."""
    return (b"BT %s %.2f Tf %.4f %.4f %.4f %.4f %.2f %.2f Tm <%s> Tj ET"
            % (font, size, *matrix, subset.codes(text).hex().encode()))


def _arc_text(font: bytes, subset: fonts.Subset, text: str, cx: float, cy: float, radius: float) -> bytes:
    """The name along the ring's inside, clockwise over the top, each character upright to the centre."""
    size = SEAL_NAME_SIZES[0]
    span = math.radians(SEAL_ARC)
    while size > SEAL_NAME_SIZES[1]:
        middle = radius - 0.88 * size + 0.38 * size  # the characters' middle height
        if subset.width(text, size) * 1.08 <= middle * span:
            break
        size -= 0.25
    baseline = radius - 0.88 * size
    middle = baseline + 0.38 * size
    advances = [subset.width(ch, size) * 1.08 for ch in text]
    total = min(sum(advances) / middle, span)
    scale = total / (sum(advances) / middle) if advances and sum(advances) else 1.0
    ops = []
    angle = math.pi / 2 + total / 2  # start left of the top and go clockwise
    for ch, advance in zip(text, advances, strict=True):
        step = advance / middle * scale
        theta = angle - step / 2
        angle -= step
        phi = theta - math.pi / 2  # the glyph's baseline direction: the tangent
        width = subset.width(ch, size)
        x = cx + baseline * math.cos(theta) - width / 2 * math.cos(phi)
        y = cy + baseline * math.sin(theta) - width / 2 * math.sin(phi)
        ops.append(_text(font, subset, ch, size, (math.cos(phi), math.sin(phi), -math.sin(phi),
                                                  math.cos(phi), x, y)))
    return b" ".join(ops)


def _to_unicode(subset: fonts.Subset) -> bytes:
    """A ToUnicode CMap, so the seal's text can be searched and copied."""
    pairs = sorted((gid, ch) for ch, gid in subset.glyph_ids.items())
    lines = [b"<%04x> <%s>" % (gid, ch.encode("utf-16-be").hex().encode()) for gid, ch in pairs]
    blocks = [lines[i:i + 100] for i in range(0, len(lines), 100)]
    body = b"".join(b"%d beginbfchar\n%s\nendbfchar\n" % (len(block), b"\n".join(block)) for block in blocks)
    return (b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            b"1 begincodespacerange\n<0000> <ffff>\nendcodespacerange\n"
            + body + b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")


def _font_resource(writer: BasePdfFileWriter, subset: fonts.Subset) -> generic.IndirectObject:
    """Embed a TrueType subset as a Type 0 font (CIDFontType2, Identity-H: codes are glyph ids)."""
    name = generic.NameObject
    # the subset tag PDF asks for: six capitals, here from the subset's bytes
    digest = hashlib.sha256(subset.data).digest()
    tag = "".join(chr(ord("A") + b % 26) for b in digest[:6])
    base = name(f"/{tag}+{subset.postscript_name}")
    font_file = generic.StreamObject(
        {name("/Length1"): generic.NumberObject(len(subset.data))}, stream_data=subset.data
    )
    font_file.compress()
    descriptor = generic.DictionaryObject({
        name("/Type"): name("/FontDescriptor"),
        name("/FontName"): base,
        name("/Flags"): generic.NumberObject(4),  # symbolic: glyphs outside the standard Latin set
        name("/FontBBox"): generic.ArrayObject(generic.NumberObject(v) for v in subset.bbox),
        name("/ItalicAngle"): generic.NumberObject(0),
        name("/Ascent"): generic.NumberObject(subset.ascent),
        name("/Descent"): generic.NumberObject(subset.descent),
        name("/CapHeight"): generic.NumberObject(subset.ascent),
        name("/StemV"): generic.NumberObject(80),
        name("/FontFile2"): writer.add_object(font_file),
    })
    widths = generic.ArrayObject()
    for gid, width in sorted(subset.widths.items()):
        widths += [generic.NumberObject(gid), generic.ArrayObject([generic.NumberObject(width)])]
    descendant = generic.DictionaryObject({
        name("/Type"): name("/Font"),
        name("/Subtype"): name("/CIDFontType2"),
        name("/BaseFont"): base,
        name("/CIDSystemInfo"): generic.DictionaryObject({
            name("/Registry"): generic.TextStringObject("Adobe"),
            name("/Ordering"): generic.TextStringObject("Identity"),
            name("/Supplement"): generic.NumberObject(0),
        }),
        name("/FontDescriptor"): writer.add_object(descriptor),
        name("/W"): widths,
        name("/CIDToGIDMap"): name("/Identity"),
    })
    to_unicode = generic.StreamObject(stream_data=_to_unicode(subset))
    to_unicode.compress()
    return writer.add_object(generic.DictionaryObject({
        name("/Type"): name("/Font"),
        name("/Subtype"): name("/Type0"),
        name("/BaseFont"): base,
        name("/Encoding"): name("/Identity-H"),
        name("/DescendantFonts"): generic.ArrayObject([writer.add_object(descendant)]),
        name("/ToUnicode"): writer.add_object(to_unicode),
    }))


@dataclass(frozen=True)
class SealStampStyle(TextStampStyle):
    """The visible appearance of a signature, in the documents' embedded font and red.

    `round` (an institution's seal): a red ring with `seal_name` along its top inside and a star in its
    middle, and beside it the signing time and `label`. Otherwise (a person's signature): a red frame
    with `label` and the signing time. The time is the signature's own (pyHanko hands it over as
    `ts`), shown in the documents' one format (`format_time`).
    """

    seal_name: str = ""
    label: str = ""
    round: bool = True
    zone: str = "Asia/Shanghai"
    border_width: int = 0
    # pyHanko formats the signing time with this; the stamp parses it back to show it in the zone
    timestamp_format: str = "%Y-%m-%dT%H:%M:%S%z"

    def create_stamp(self, writer: BasePdfFileWriter, box: Any, text_params: dict) -> SealStamp:
        return SealStamp(writer=writer, style=self, box=box, text_params=text_params)


class SealStamp(TextStamp):
    """Draws a `SealStampStyle`."""

    style: SealStampStyle

    def _render_inner_content(self) -> list[bytes]:
        style = self.style
        signed = datetime.fromisoformat(self.text_params["ts"])
        when = fonts.regular().printable(format_time(signed, style.zone))
        name = fonts.bold().printable(style.seal_name)
        label = fonts.regular().printable(style.label)
        regular = fonts.regular().subset([when, label])
        self.set_resource(ResourceType.FONT, generic.NameObject("/SealText"),
                          _font_resource(self.writer, regular))
        width, height = self.box.width, self.box.height
        red = b"%.3f %.3f %.3f" % SEAL_RED
        ops = [b"q", red + b" RG", red + b" rg"]
        if style.round:
            bold = fonts.bold().subset([name])
            self.set_resource(ResourceType.FONT, generic.NameObject("/SealName"),
                              _font_resource(self.writer, bold))
            radius = min(height, width) / 2 - SEAL_RING / 2 - 0.5
            cx, cy = radius + SEAL_RING / 2 + 0.5, height / 2
            ops += [b"%.2f w" % SEAL_RING, _circle(cx, cy, radius), b"S",
                    _star(cx, cy, radius * 0.32), b"f",
                    _arc_text(b"/SealName", bold, name, cx, cy, radius - SEAL_RING / 2 - 1.2)]
            left = 2 * cx + 3
            lines = [when] + ([label] if label and label != name else [])
        else:
            ops += [b"1 w 0.5 0.5 %.2f %.2f re S" % (width - 1, height - 1)]
            left = 4
            lines = [label, when] if label else [when]
        # beside the seal (or inside the frame): each text wrapped into the room left, top down
        room = width - left - 2
        y = height - 3
        for text in lines:
            size, wrapped = _fit(text, regular, room, height / len(lines) - 1, SEAL_TEXT_SIZES, 3)
            for line in wrapped:
                y -= size
                ops.append(_text(b"/SealText", regular, line, size, (1, 0, 0, 1, left, y)))
                y -= size * 0.25
        ops.append(b"Q")
        return ops


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
    seal_name: str | None = None,
    seal: bool | None = None,
) -> bytes:
    """Add a visible, time-stamped PAdES signature as an incremental update; certify only the first.

    The visible appearance (`SealStampStyle`) is a round red seal with `seal_name` (by default the
    Chinese part of `signer_label`) when `seal` (by default: when certifying, an institution issuing
    the document), else a framed signature with `signer_label`.
    """
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
        meta, signer=signer, timestamper=timestamper, new_field_spec=new_field,
        stamp_style=SealStampStyle(seal_name=seal_name or chinese_name(signer_label), label=signer_label,
                                   round=certify if seal is None else seal, zone=display_zone()),
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

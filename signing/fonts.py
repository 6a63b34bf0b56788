"""The documents' font: Noto Sans CJK SC (Debian's fonts-noto-cjk), embedded as a subset in every PDF.

Debian ships Noto Sans CJK as OpenType collections (.ttc) with CFF outlines; reportlab embeds only
TrueType outlines. So each document gets a small TrueType font made for it: the glyphs of exactly the
characters it shows, their CFF outlines converted to quadratic curves (fontTools' cu2qu), with the
source's metrics. reportlab subsets and embeds that font (FontFile2), and the signature appearances
embed it as a CID font (signing/pdf.py). A glyph is converted once per process and then cached.

The font file is configurable (PDF_CJK_FONT; PDF_CJK_BOLD_FONT for titles). `configure` runs when the
application starts and refuses a missing or unreadable file with the package to install, so a
deployment never issues documents in a fallback font. Any OpenType or TrueType font file, or a
collection with a Simplified Chinese face, can take its place (Source Han Sans SC, for example).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

#: Debian's fonts-noto-cjk.
DEFAULT_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
DEFAULT_BOLD_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
#: The face chosen in a collection: the first whose family name ends so (Noto's "Noto Sans CJK SC",
#: Source Han's "Source Han Sans SC"); monospaced faces are passed over.
FACE_SUFFIX = " SC"

#: Characters a font may lack that have a visually equivalent one it has: the spaces Babel and CLDR
#: put in formatted numbers and times (narrow no-break, thin, figure spaces), the non-breaking hyphen.
#: Used only where the font has no glyph for the original.
EQUIVALENTS = {
    "\u202f": "\u00a0",
    "\u2009": " ",
    "\u200a": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u2011": "-",
    "\u2714": "\u2713",
}
#: Characters that lay out text rather than show a glyph.
LAYOUT = frozenset("\n\r\t\f")  # pdftotext ends each page with a form feed


class FontMissing(RuntimeError):
    """The configured font file is missing or is not a usable font."""


def _message(path: str, setting: str, problem: str) -> str:
    return (
        f"{setting}={path}: {problem}. The documents embed a Chinese font: install Debian's "
        f"fonts-noto-cjk (apt-get install fonts-noto-cjk) or set {setting} to an OpenType or "
        "TrueType font file with Simplified Chinese (Noto Sans CJK SC, Source Han Sans SC)."
    )


def _face_index(path: str, setting: str) -> int:
    """Which face of the file to use: 0 for a single font, the Simplified Chinese one in a collection."""
    from fontTools.ttLib import TTCollection, TTLibError

    try:
        with open(path, "rb") as fh:
            tag = fh.read(4)
    except OSError as exc:
        raise FontMissing(_message(path, setting, exc.strerror or "cannot be read")) from exc
    if tag != b"ttcf":
        if tag not in (b"OTTO", b"\x00\x01\x00\x00", b"true"):
            raise FontMissing(_message(path, setting, "not an OpenType or TrueType font"))
        return 0
    try:
        with TTCollection(path, lazy=True) as collection:
            names = [face["name"].getDebugName(1) or "" for face in collection.fonts]
    except (TTLibError, OSError, KeyError, AssertionError) as exc:
        raise FontMissing(_message(path, setting, f"not a readable font collection ({exc})")) from exc
    for index, name in enumerate(names):
        if name.endswith(FACE_SUFFIX) and "Mono" not in name:
            return index
    raise FontMissing(_message(path, setting, f"no Simplified Chinese face among {names}"))


@dataclass(frozen=True)
class Subset:
    """A TrueType font made for some texts, and what a PDF writer needs to draw them in it."""

    data: bytes
    postscript_name: str
    #: glyph id of each character it covers (0 for the others, .notdef)
    glyph_ids: dict[str, int]
    #: advance width of each glyph id, in units of 1/1000 em
    widths: dict[int, int]
    #: ascent, descent (negative) and the bounding box, 1/1000 em
    ascent: int
    descent: int
    bbox: tuple[int, int, int, int]

    def width(self, text: str, size: float) -> float:
        """How wide `text` is at `size` points."""
        return sum(self.widths[self.glyph_ids.get(ch, 0)] for ch in text) * size / 1000

    def codes(self, text: str) -> bytes:
        """The text as glyph ids, two bytes each (a CID font with Identity-H and CIDToGIDMap Identity)."""
        return b"".join(self.glyph_ids.get(ch, 0).to_bytes(2, "big") for ch in text)


class CjkFont:
    """One face of a font file: which characters it covers, and TrueType subsets of it on demand."""

    def __init__(self, path: str | os.PathLike[str], *, setting: str = "PDF_CJK_FONT") -> None:
        self.path = str(path)
        self.index = _face_index(self.path, setting)
        self._lock = threading.Lock()
        self._source: Any = None
        self._pid = 0
        self._glyphs: dict[str, _Glyph] = {}

    # The source is parsed on first use (about a second for Noto's 65,000 glyphs), once per process: a
    # forked process opens its own file, as the parent's offset in a shared one would move under it.
    def _load(self) -> Any:
        if self._source is None or self._pid != os.getpid():
            from fontTools.ttLib import TTFont

            font = TTFont(self.path, fontNumber=self.index, lazy=True)
            self.cmap: dict[int, str] = font.getBestCmap()
            self.glyph_set = font.getGlyphSet()
            self.metrics = font["hmtx"]
            self.units_per_em = font["head"].unitsPerEm
            self.postscript_name = (font["name"].getDebugName(6) or "CJK").replace(" ", "")
            self._source, self._pid, self._glyphs = font, os.getpid(), {}
        return self._source

    def covers(self, char: str) -> bool:
        with self._lock:
            self._load()
            return ord(char) in self.cmap

    def printable(self, text: str) -> str:
        """`text` with the characters the font lacks replaced by an equivalent it has (EQUIVALENTS)."""
        with self._lock:
            self._load()
            return "".join(
                EQUIVALENTS[ch] if ch in EQUIVALENTS and ord(ch) not in self.cmap else ch for ch in text
            )

    def missing(self, text: str) -> set[str]:
        """Characters of `text` the font has no glyph for (layout characters aside)."""
        with self._lock:
            self._load()
            return {ch for ch in text if ch not in LAYOUT and ord(ch) not in self.cmap}

    def _glyph(self, name: str) -> _Glyph:
        """A glyph converted to TrueType and compiled, once per process."""
        glyph = self._glyphs.get(name)
        if glyph is None:
            from fontTools.pens.cu2quPen import Cu2QuPen
            from fontTools.pens.ttGlyphPen import TTGlyphPen

            pen = TTGlyphPen(None)
            # cubic to quadratic within 1 unit of 1000 per em; TrueType winds the other way round
            self.glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            outline = pen.glyph()
            data = outline.compile(None, recalcBBoxes=True)  # simple glyphs need no glyf table
            contours = max(outline.numberOfContours, 0)
            points = len(outline.coordinates) if contours else 0
            bounds = (outline.xMin, outline.yMin, outline.xMax, outline.yMax) if contours else None
            glyph = self._glyphs[name] = _Glyph(data, tuple(self.metrics[name]), bounds, points, contours)
        return glyph

    def subset(self, texts: Iterable[str]) -> Subset:
        """A TrueType font with the glyphs of every character in `texts` (and .notdef, glyph 0).

        Glyph ids follow the order of the characters' code points, so the same characters give the
        same font. Glyphs are kept compiled: the font's tables are assembled around them, and the
        bounding box and maximum profile come from the cached figures instead of a recompilation.
        """
        from fontTools.fontBuilder import FontBuilder
        from fontTools.ttLib import newTable
        from fontTools.ttLib.tables._g_l_y_f import Glyph

        with self._lock:
            source = self._load()
            chars = sorted({ord(ch) for text in texts for ch in text} & self.cmap.keys())
            mapping = {code: self.cmap[code] for code in chars}
            order = [".notdef", *sorted(set(mapping.values()) - {".notdef"})]
            glyphs = {name: self._glyph(name) for name in order}
            builder = FontBuilder(self.units_per_em, isTTF=True)
            builder.font.recalcBBoxes = False
            builder.setupGlyphOrder(order)
            builder.setupCharacterMap(mapping)
            # the glyf table straight from the compiled glyphs (setupGlyf would inspect their outlines)
            builder.font["loca"], builder.font["glyf"] = newTable("loca"), newTable("glyf")
            builder.font["glyf"].glyphs = {name: Glyph(glyph.data) for name, glyph in glyphs.items()}
            builder.font["glyf"].glyphOrder = order
            builder.setupHorizontalMetrics({name: glyph.metrics for name, glyph in glyphs.items()})
            hhea, os2 = source["hhea"], source["OS/2"]
            builder.setupHorizontalHeader(ascent=hhea.ascent, descent=hhea.descent, lineGap=hhea.lineGap,
                                          advanceWidthMax=max(g.metrics[0] for g in glyphs.values()))
            builder.setupNameTable({"familyName": self.postscript_name, "styleName": "Regular",
                                    "psName": self.postscript_name})
            builder.setupOS2(
                sTypoAscender=os2.sTypoAscender, sTypoDescender=os2.sTypoDescender,
                sTypoLineGap=os2.sTypoLineGap, usWinAscent=os2.usWinAscent, usWinDescent=os2.usWinDescent,
                sxHeight=getattr(os2, "sxHeight", 0), sCapHeight=getattr(os2, "sCapHeight", 0),
                fsType=os2.fsType, usWeightClass=os2.usWeightClass,
            )
            builder.setupPost()
            bounds = [g.bounds for g in glyphs.values() if g.bounds] or [(0, 0, 0, 0)]
            head, maxp = builder.font["head"], builder.font["maxp"]
            head.xMin, head.yMin = min(b[0] for b in bounds), min(b[1] for b in bounds)
            head.xMax, head.yMax = max(b[2] for b in bounds), max(b[3] for b in bounds)
            maxp.maxPoints = max(g.points for g in glyphs.values())
            maxp.maxContours = max(g.contours for g in glyphs.values())
            out = BytesIO()
            builder.save(out)
            scale = 1000 / self.units_per_em
            gid = {name: index for index, name in enumerate(order)}
            return Subset(
                data=out.getvalue(),
                postscript_name=self.postscript_name,
                glyph_ids={chr(code): gid[name] for code, name in mapping.items()},
                widths={gid[name]: round(glyph.metrics[0] * scale) for name, glyph in glyphs.items()},
                ascent=round(hhea.ascent * scale),
                descent=round(hhea.descent * scale),
                bbox=(round(head.xMin * scale), round(head.yMin * scale), round(head.xMax * scale),
                      round(head.yMax * scale)),
            )


@dataclass(frozen=True)
class _Glyph:
    """A converted glyph: its compiled glyf data, (advance, left side bearing), bounds and counts."""

    data: bytes
    metrics: tuple[int, int]
    bounds: tuple[int, int, int, int] | None
    points: int
    contours: int


_fonts: dict[str, CjkFont] = {}
_configured: dict[str, str] = {}
_fonts_lock = threading.Lock()


def _font(path: str, setting: str) -> CjkFont:
    """The font of a file, one per process (its glyph cache is shared by every document)."""
    with _fonts_lock:
        font = _fonts.get(path)
        if font is None:
            font = _fonts[path] = CjkFont(path, setting=setting)
        return font


def bold_default(regular: str) -> str:
    """The bold file beside a regular one named *-Regular.* (Noto's and Source Han's naming), if any."""
    candidate = Path(regular).with_name(Path(regular).name.replace("Regular", "Bold"))
    return str(candidate) if candidate != Path(regular) and candidate.exists() else regular


def configure(regular: str | None = None, bold: str | None = None) -> None:
    """Check the font files (at start-up: a missing one is an error here, not at the first document)."""
    regular = regular or os.environ.get("PDF_CJK_FONT") or DEFAULT_FONT
    bold = bold or os.environ.get("PDF_CJK_BOLD_FONT") or bold_default(regular)
    _font(regular, "PDF_CJK_FONT")
    _font(bold, "PDF_CJK_BOLD_FONT")
    _configured.update(regular=regular, bold=bold)


def regular() -> CjkFont:
    """The body font (configured at start-up; elsewhere, such as an issuer's own process, from the
    environment or Debian's default path)."""
    if "regular" not in _configured:
        configure()
    return _font(_configured["regular"], "PDF_CJK_FONT")


def bold() -> CjkFont:
    if "bold" not in _configured:
        configure()
    return _font(_configured["bold"], "PDF_CJK_BOLD_FONT")

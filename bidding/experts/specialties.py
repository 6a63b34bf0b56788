"""The specialty code list of the expert pool: a small two-level classification, in Chinese and English.

Modelled on the national classification of evaluation experts' specialties
(综合评标专家专业分类标准):
a letter for the field (A works, B goods, C services, D economics), two digits for the specialty within
it. A draw asks for codes of either level; an expert qualifies when one of their codes equals a
requested code or lies under it ("A01" is under "A"). Plain data, no Flask: `ebid verify-draw` uses
`matches` too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Specialty:
    """One code of the list."""

    code: str
    zh: str
    en: str

    def name(self, locale: str | None) -> str:
        """The name in the locale (Chinese for zh*, English otherwise)."""
        return self.zh if (locale or "").lower().startswith("zh") else self.en


#: The list, in display order: fields first, each followed by its specialties.
SPECIALTIES: tuple[Specialty, ...] = (
    Specialty("A", "工程", "Works"),
    Specialty("A01", "房屋建筑工程", "Building construction"),
    Specialty("A02", "市政公用工程", "Municipal works"),
    Specialty("A03", "公路与交通工程", "Highways and transport works"),
    Specialty("A04", "水利水电工程", "Water conservancy and hydropower"),
    Specialty("A05", "电力与机电安装工程", "Electrical and mechanical installation"),
    Specialty("B", "货物", "Goods"),
    Specialty("B01", "信息技术设备", "Information technology equipment"),
    Specialty("B02", "医疗设备", "Medical equipment"),
    Specialty("B03", "车辆与机械", "Vehicles and machinery"),
    Specialty("C", "服务", "Services"),
    Specialty("C01", "工程咨询与设计", "Engineering consulting and design"),
    Specialty("C02", "信息技术服务", "Information technology services"),
    Specialty("C03", "物业与运维服务", "Facility management and maintenance"),
    Specialty("D", "经济", "Economics"),
    Specialty("D01", "工程造价", "Cost engineering"),
    Specialty("D02", "财务与审计", "Finance and audit"),
    Specialty("D03", "法律", "Law"),
)

BY_CODE: dict[str, Specialty] = {s.code: s for s in SPECIALTIES}


def is_code(code: object) -> bool:
    """Whether `code` is on the list."""
    return isinstance(code, str) and code in BY_CODE


def matches(expert_code: str, requested: str) -> bool:
    """Whether an expert's code satisfies a requested one: the same code, or one under it."""
    return expert_code == requested or (len(requested) < len(expert_code)
                                        and expert_code.startswith(requested))


def qualifies(expert_codes: list[str] | tuple[str, ...], requested: list[str] | tuple[str, ...]) -> bool:
    """Whether any of the expert's codes satisfies any requested code."""
    return any(matches(e, r) for e in expert_codes for r in requested)


def label(code: str, locale: str | None) -> str:
    """'A01 房屋建筑工程' (or the English name); an unknown code as it is."""
    item = BY_CODE.get(code)
    return f"{code} {item.name(locale)}" if item else code

"""The lists a tender's notice chooses from: project types and procurement methods, labelled zh/en.

Project types are also the scopes of the deposit cap rules (guarantees/rules.py reads them from here), so
a tender's type picks the rule that caps its deposit. Procurement methods follow the Tendering and
Bidding Law (公开招标, 邀请招标) and the Government Procurement Law (竞争性谈判, 竞争性磋商, 询价, 单一来源);
on this platform every method runs the same sealed-bid procedure: the method is stated in the notice.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: Project types the platform knows (the deposit rules table may hold any of these, or "*").
PROJECT_TYPES = (
    "construction",
    "goods",
    "services",
    "survey_design",
    "supervision",
    "government_procurement",
    "other",
)

PROJECT_TYPE_LABELS = {
    "construction": _l("Construction works"),
    "goods": _l("Goods"),
    "services": _l("Services"),
    "survey_design": _l("Survey and design"),
    "supervision": _l("Construction supervision"),
    "government_procurement": _l("Government procurement"),
    "other": _l("Other"),
}

#: Procurement methods, most open first.
PROCUREMENT_METHODS = (
    "open_tendering",
    "invited_tendering",
    "competitive_negotiation",
    "competitive_consultation",
    "inquiry",
    "single_source",
)

PROCUREMENT_METHOD_LABELS = {
    "open_tendering": _l("Open tendering"),
    "invited_tendering": _l("Invited tendering"),
    "competitive_negotiation": _l("Competitive negotiation"),
    "competitive_consultation": _l("Competitive consultation"),
    "inquiry": _l("Request for quotations"),
    "single_source": _l("Single-source procurement"),
}

DEFAULT_PROJECT_TYPE = "construction"
DEFAULT_PROCUREMENT_METHOD = "open_tendering"


def project_type_label(code: str | None) -> str:
    return str(PROJECT_TYPE_LABELS.get(code or "", code or "—"))


def procurement_method_label(code: str | None) -> str:
    return str(PROCUREMENT_METHOD_LABELS.get(code or "", code or "—"))

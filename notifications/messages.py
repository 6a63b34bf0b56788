"""What each kind of notification says, in the reader's language.

A notification keeps its kind (the message key) and parameters; the text is made when someone reads
it, in their language (`render`), so a notification made by a job in Chinese reads in English to a
user who chose English. Times in the parameters are ISO 8601 UTC strings, shown in the display zone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from core.labels import when

#: kind -> (title, body); the body's %(name)s placeholders are the notification's parameters.
MESSAGES: dict[str, tuple[Any, Any]] = {
    "panel.invited": (
        _l("You are drawn for an expert panel"),
        _l("You are drawn for the expert panel of tender %(reference)s (%(title)s), lot %(lot)s, evaluating "
           "on %(date)s. Accept or decline on your invitations page."),
    ),
    "clarification.asked": (
        _l("The evaluation panel asks your company a question"),
        _l("The evaluation panel of tender %(reference)s (%(title)s) asks your company a question. "
           "Answer it by %(deadline)s."),
    ),
    "tender_question.answered": (
        _l("A question on a tender was answered"),
        _l("Question no. %(number)s on tender %(reference)s (%(title)s) has an answer, published to all "
           "bidders."),
    ),
    "clarification.answered": (
        _l("A clarification was answered"),
        _l("A bidder answered the panel's question %(clarification)s on tender %(reference)s (%(title)s)."),
    ),
    "guarantee.issued": (
        _l("Your guarantee was issued"),
        _l("%(issuer)s issued your guarantee for tender %(reference)s (%(title)s)."),
    ),
    "guarantee.declined": (
        _l("Your guarantee application was declined"),
        _l("%(issuer)s declined your guarantee application for tender %(reference)s (%(title)s)."),
    ),
    "guarantee.information_requested": (
        _l("Your guarantee issuer asks for more information"),
        _l("%(issuer)s asks for more information on your guarantee application for tender %(reference)s "
           "(%(title)s)."),
    ),
    "guarantee.claimed": (
        _l("A claim was made under a guarantee"),
        _l("The tenderee of tender %(reference)s (%(title)s) made a claim under the guarantee issued by "
           "%(issuer)s."),
    ),
    "guarantee.paid": (
        _l("A guarantee claim was paid"),
        _l("%(issuer)s paid the claim under the guarantee for tender %(reference)s (%(title)s)."),
    ),
    "guarantee.rejected": (
        _l("A guarantee claim was refused"),
        _l("%(issuer)s refused the claim under the guarantee for tender %(reference)s (%(title)s)."),
    ),
    "deadline.24h": (
        _l("Bids close in 24 hours"),
        _l("Bids for tender %(reference)s (%(title)s) close at %(deadline)s, within 24 hours."),
    ),
    "deadline.1h": (
        _l("Bids close in one hour"),
        _l("Bids for tender %(reference)s (%(title)s) close at %(deadline)s, within the hour."),
    ),
    "opening.soon": (
        _l("An opening starts soon"),
        _l("The opening of tender %(reference)s (%(title)s) starts at %(opening)s."),
    ),
    "objection.raised": (
        _l("An objection was raised"),
        _l("A bidder raised an objection on tender %(reference)s (%(title)s); it awaits your answer."),
    ),
    "objection.answered": (
        _l("Your objection was answered"),
        _l("The tendering office answered your objection on tender %(reference)s (%(title)s)."),
    ),
    "award.publicised": (
        _l("The candidates are publicised"),
        _l("The candidates of tender %(reference)s (%(title)s) are publicised until %(ends)s; objections "
           "are taken until then."),
    ),
    "award.issued": (
        _l("The tender is awarded"),
        _l("Tender %(reference)s (%(title)s) is awarded; the result notice is published."),
    ),
    "award.won": (
        _l("Your company won the tender"),
        _l("Your company is awarded tender %(reference)s (%(title)s), lot %(lot)s."),
    ),
    "complaint.filed": (
        _l("A complaint was filed"),
        _l("Complaint no. %(complaint)s on tender %(reference)s (%(title)s) was filed; the supervising "
           "authority accepts or refuses it by %(due)s."),
    ),
    "complaint.accepted": (
        _l("A complaint was accepted"),
        _l("Complaint no. %(complaint)s on tender %(reference)s (%(title)s) was accepted; the decision is "
           "due by %(due)s."),
    ),
    "complaint.refused": (
        _l("A complaint was not accepted"),
        _l("Complaint no. %(complaint)s on tender %(reference)s (%(title)s) was not accepted; the signed "
           "notice gives the reason."),
    ),
    "complaint.suspended": (
        _l("A tender is suspended"),
        _l("Tender %(reference)s (%(title)s) is suspended by the supervising authority while complaint no. "
           "%(complaint)s is handled."),
    ),
    "complaint.lifted": (
        _l("A tender's suspension is lifted"),
        _l("The suspension of tender %(reference)s (%(title)s) for complaint no. %(complaint)s is lifted."),
    ),
    "complaint.statement": (
        _l("The tendering office answered a complaint"),
        _l("The tendering office of tender %(reference)s (%(title)s) gave its statement on complaint no. "
           "%(complaint)s."),
    ),
    "complaint.extended": (
        _l("A complaint's decision period is extended"),
        _l("The decision on complaint no. %(complaint)s (tender %(reference)s, %(title)s) is now due by "
           "%(due)s."),
    ),
    "complaint.decided": (
        _l("A complaint is decided"),
        _l("Complaint no. %(complaint)s on tender %(reference)s (%(title)s) is decided; read the signed "
           "decision."),
    ),
    "complaint.withdrawn": (
        _l("A complaint was withdrawn"),
        _l("Complaint no. %(complaint)s on tender %(reference)s (%(title)s) was withdrawn by the "
           "complainant."),
    ),
}

#: Parameters that are times (ISO 8601 UTC), shown in the display zone.
TIMES = frozenset({"deadline", "opening", "ends", "due"})


def _shown(params: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = defaultdict(lambda: "—")
    for key, value in params.items():
        if key in TIMES and isinstance(value, str):
            try:
                value = when(dt.datetime.fromisoformat(value))
            except ValueError:
                pass
        shown[key] = value
    return shown


def render(kind: str, params: dict[str, Any], locale: str | None = None) -> tuple[str, str]:
    """(title, body) of a notification in `locale` (default: the current request's language)."""
    title, body = MESSAGES.get(kind, (kind, kind))
    if locale is None:
        return str(title), str(body) % _shown(params or {})
    languages = current_app.config.get("LANGUAGES", ("zh_CN",))
    chosen = locale if locale in languages else current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")
    with force_locale(chosen):
        return str(title), str(body) % _shown(params or {})

"""Clarifications (答疑): a bidder asks about a published tender, the office answers, and the question
with its answer is published to every bidder.

The asker is anonymous to the office and to other bidders: the row keeps the organisation (so the
bidder sees its own questions), but no page, API answer or log entry shows it to anyone else. Questions
close CLARIFICATION_QUESTION_CUTOFF before the bid deadline; an answer that changes the tender documents
follows the notice period rule of bidding/tender_documents.py (docs/tendering.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ForeignKey, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.lifecycle import TenderState
from bidding.models import Tender
from bidding.tender_documents import check_notice_period
from core.errors import Refused
from core.extensions import db
from core.labels import when
from core.models import Role, User
from core.orm import Base, created_at, intpk, utcnow
from core.validation import ValidationError
from signing import audit

MAX_TEXT = 4000


class TenderQuestion(Base):
    """A bidder's question on a tender and, once given, the office's answer."""

    __tablename__ = "tender_questions"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    #: 1, 2, ... per tender, in the order asked (答疑第 N 号).
    number: Mapped[int]
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[created_at]
    #: Never shown to the office or other bidders (the asker's own pages only).
    asker_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The answer changes the tender documents (the notice period rule applies).
    changes_documents: Mapped[bool] = mapped_column(default=False)

    tender: Mapped[Tender] = relationship()

    __table_args__ = (UniqueConstraint("tender_id", "number", name="uq_tender_questions_tender_number"),)


def question_deadline(tender: Tender) -> dt.datetime:
    """The last moment a question is taken (10 days before the bid deadline: 实施条例 第二十二条)."""
    cutoff = current_app.config.get("CLARIFICATION_QUESTION_CUTOFF")
    if cutoff is None:
        cutoff = current_app.config["MIN_AMENDMENT_NOTICE"] * 2 / 3
    return tender.submission_deadline - cutoff


def _text(value: object, field: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError(field, _("Write the text first."))
    if len(text) > MAX_TEXT:
        raise ValidationError(field, _("At most %(n)d characters.", n=MAX_TEXT))
    return text


def ask(tender: Tender, actor: User, question: object, *, now: dt.datetime | None = None) -> TenderQuestion:
    """A bidder's question; logged with no actor, address or text (its hash only): nobody learns who asked."""
    now = now or utcnow()
    text = _text(question, "question")
    if actor.role != Role.BIDDER:
        raise Refused(_("Only bidders ask questions."), code="forbidden", status=403)
    if tender.state != TenderState.PUBLISHED or tender.submission_deadline <= now:
        raise Refused(_("Questions are taken only while the tender is taking bids."),
                      code="illegal_transition", status=409)
    cutoff = question_deadline(tender)
    if now > cutoff:
        raise Refused(_("The clarification deadline (%(when)s) has passed: questions are no longer taken "
                        "for this tender.", when=when(cutoff)), code="clarification_closed", status=409)
    number = (db.session.scalar(select(func.max(TenderQuestion.number))
                                .where(TenderQuestion.tender_id == tender.id)) or 0) + 1
    item = TenderQuestion(tender_id=tender.id, number=number, question=text, asked_at=now,
                         asker_organisation_id=actor.organisation_id)
    db.session.add(item)
    db.session.flush()
    audit.record("tender_question.asked", actor=None, ip=None,
                 subject={"tender": tender.id, "question": number},
                 data={"question_sha256": hashlib.sha256(text.encode()).hexdigest()})
    return item


def answer(item: TenderQuestion, actor: User, text: object, *, changes_documents: bool = False,
           extend: bool = False, now: dt.datetime | None = None) -> bool:
    """The office's answer, published with the question. Answers whether the deadline moved."""
    now = now or utcnow()
    body = _text(text, "answer")
    tender = item.tender
    if item.answer is not None:
        raise Refused(_("This question has already been answered."), code="already_answered", status=409)
    if tender.state != TenderState.PUBLISHED or tender.submission_deadline <= now:
        raise Refused(_("Answers are published only while the tender is taking bids."),
                      code="illegal_transition", status=409)
    moved = False
    if changes_documents:
        moved = check_notice_period(tender, actor, extend=extend, now=now,
                                    reason=_("Clarification no. %(n)d changes the tender documents",
                                             n=item.number))
    item.answer, item.answered_at, item.answered_by_id = body, now, actor.id
    item.changes_documents = changes_documents
    db.session.flush()
    audit.record("tender_question.answered", actor=actor,
                 subject={"tender": tender.id, "question": item.number},
                 data={"question": item.question, "answer": body, "changes_documents": changes_documents,
                       "deadline_moved": moved})
    return moved


def published(tender: Tender) -> list[TenderQuestion]:
    """The answered questions, for everyone."""
    return list(db.session.scalars(select(TenderQuestion).where(TenderQuestion.tender_id == tender.id,
                                                               TenderQuestion.answer.is_not(None))
                                   .order_by(TenderQuestion.number)))


def unanswered(tender: Tender) -> list[TenderQuestion]:
    """The office's queue (no asker shown)."""
    return list(db.session.scalars(select(TenderQuestion).where(TenderQuestion.tender_id == tender.id,
                                                               TenderQuestion.answer.is_(None))
                                   .order_by(TenderQuestion.number)))


def own_pending(tender: Tender, actor: User | None) -> list[TenderQuestion]:
    """A bidder's own questions still waiting for an answer."""
    if actor is None or actor.role != Role.BIDDER:
        return []
    return [c for c in unanswered(tender) if c.asker_organisation_id == actor.organisation_id]

"""Pages and API of the tender documents and the clarifications (答疑): the office uploads and answers,
bidders download and ask. The services are bidding/tender_documents.py and bidding/tender_questions.py."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask import Response as FlaskResponse
from flask_babel import gettext as _

from bidding import services
from bidding import tender_documents as docs
from bidding import tender_questions as questions
from bidding.lifecycle import TenderState
from bidding.models import Tender
from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.models import Role
from core.openapi import document
from core.shapes import RequestModel, ResponseModel, Text, json_body, respond, validate
from core.storage import blob_store_from_config
from core.uploads import read_file_form
from core.validation import ValidationError

pages = Blueprint("tender_files", __name__)
api = Blueprint("tender_files_api", __name__, url_prefix="/api/tenders")
csrf.exempt(api)

# -- shared ------------------------------------------------------------------------------------------


def _visible(tender_id: int) -> Tender:
    tender = services.visible_tender(tender_id, current_actor())
    if tender is None:
        abort(404)
    return tender


def _owner(tender: Tender) -> bool:
    actor = current_actor()
    return actor is not None and actor.role == Role.TENDERING_OFFICE \
        and actor.organisation_id == tender.tendering_office_id


def _document(tender: Tender, document_id: int) -> docs.TenderDocument:
    found = db.session.get(docs.TenderDocument, document_id)
    if found is None or found.tender_id != tender.id:
        abort(404)
    return found


def _file_response(document: docs.TenderDocument, mimetype: str | None = None) -> FlaskResponse:
    """The file, named as uploaded (RFC 6266/5987 for non-ASCII names)."""
    actor = current_actor()
    tender = document.tender
    if not docs.may_download(tender, actor):
        raise Refused(_("The tender documents are downloaded by bidders once the tender is published."),
                      code="forbidden", status=403)
    docs.record_download(document, actor)
    db.session.commit()
    store = blob_store_from_config(current_app.config)
    ascii_name = document.filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(document.filename)}"
    return FlaskResponse(store.open(document.sha256), mimetype=mimetype or document.media_type,
                         headers={"Content-Disposition": disposition, "Content-Length": str(document.size),
                                  "X-Content-SHA256": document.sha256})


def _flag(form, name: str) -> bool:
    return form.get(name) in ("1", "on", "yes", "true")


# -- pages --------------------------------------------------------------------------------------------


@pages.get("/tenders/<int:tender_id>/documents")
def documents_page(tender_id: int):
    tender = _visible(tender_id)
    actor = current_actor()
    return render_template("bidding/documents.html", tender=tender, documents=docs.documents_of(tender),
                           owner=_owner(tender), can_download=docs.may_download(tender, actor),
                           can_upload=_owner(tender)
                           and tender.state in (TenderState.DRAFT, TenderState.PUBLISHED),
                           downloads=docs.downloads_visible_to(tender, actor),
                           opening_started=docs.opening_started(tender), max_bytes=docs.max_bytes(),
                           allowed=", ".join(t.extension for t in docs.ALLOWED_TYPES))


def _received_file():
    """The multipart body's `file` and form, within the tender documents' size limit."""
    return read_file_form("file", docs.max_bytes())


def _upload(tender: Tender, sent, form) -> docs.TenderDocument:
    if sent is None:
        raise ValidationError("file", _("Choose a file to upload."))
    return docs.upload(tender, current_actor(), kind=form.get("kind", docs.MAIN), filename=sent.filename,
                       stream=sent.stream, extend=_flag(form, "extend"))


@pages.post("/office/tenders/<int:tender_id>/documents")
@csrf.exempt  # checked below, once the body may be as large as a tender document (not MAX_CONTENT_LENGTH)
def upload(tender_id: int):
    tender = _visible(tender_id)
    try:
        sent, form = _received_file()
        if current_app.config["WTF_CSRF_ENABLED"]:
            csrf.protect()
        added = _upload(tender, sent, form)
    except (ValidationError, Refused) as exc:
        db.session.rollback()
        flash(_("Not uploaded: %(why)s", why=exc.message), "error")
        return redirect(url_for("tender_files.documents_page", tender_id=tender_id)), 303
    db.session.commit()
    current_app.extensions["ebid.scheduler"].wake("bidding.close")  # the deadline may have moved
    flash(_("%(name)s uploaded (SHA-256 %(sha)s).", name=added.filename, sha=added.sha256), "success")
    return redirect(url_for("tender_files.documents_page", tender_id=tender.id)), 303


@pages.post("/office/tenders/<int:tender_id>/documents/<int:document_id>/remove")
def remove(tender_id: int, document_id: int):
    tender = _visible(tender_id)
    try:
        docs.remove(_document(tender, document_id), current_actor())
    except Refused as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("Document removed."), "success")
    return redirect(url_for("tender_files.documents_page", tender_id=tender.id)), 303


@pages.get("/tenders/<int:tender_id>/documents/<int:document_id>")
def download(tender_id: int, document_id: int):
    tender = _visible(tender_id)
    return _file_response(_document(tender, document_id))


@pages.get("/tenders/<int:tender_id>/questions")
def qa_page(tender_id: int):
    tender = _visible(tender_id)
    actor = current_actor()
    owner = _owner(tender)
    taking = tender.state == TenderState.PUBLISHED
    return render_template("bidding/qa.html", tender=tender, answered=questions.published(tender),
                           owner=owner,
                           pending=questions.unanswered(tender) if owner else [],
                           own_pending=questions.own_pending(tender, actor),
                           can_ask=actor is not None and actor.role == Role.BIDDER and taking,
                           deadline=questions.question_deadline(tender), taking=taking)


@pages.post("/tenders/<int:tender_id>/questions")
def ask(tender_id: int):
    tender = _visible(tender_id)
    try:
        item = questions.ask(tender, current_actor(), request.form.get("question"))
    except (ValidationError, Refused) as exc:
        db.session.rollback()
        flash(_("Question not sent: %(why)s", why=exc.message), "error")
    else:
        db.session.commit()
        flash(_("Question no. %(n)d sent. The office sees the question, not who asked it; the answer is "
                "published to all bidders.", n=item.number), "success")
    return redirect(url_for("tender_files.qa_page", tender_id=tender.id)), 303


@pages.post("/office/tenders/<int:tender_id>/questions/<int:number>/answer")
def answer(tender_id: int, number: int):
    tender = _visible(tender_id)
    item = _question(tender, number)
    try:
        moved = questions.answer(item, current_actor(), request.form.get("answer"),
                                 changes_documents=_flag(request.form, "changes_documents"),
                                 extend=_flag(request.form, "extend"))
    except (ValidationError, Refused) as exc:
        db.session.rollback()
        flash(_("Answer not published: %(why)s", why=exc.message), "error")
    else:
        db.session.commit()
        current_app.extensions["ebid.scheduler"].wake("bidding.close")
        flash(_("Answer published to all bidders; the deadline moved to keep the notice period.") if moved
              else _("Answer published to all bidders."), "success")
    return redirect(url_for("tender_files.qa_page", tender_id=tender.id)), 303


def _question(tender: Tender, number: int) -> questions.TenderQuestion:
    from sqlalchemy import select

    item = db.session.scalar(select(questions.TenderQuestion).where(
        questions.TenderQuestion.tender_id == tender.id, questions.TenderQuestion.number == number))
    if item is None:
        abort(404)
    return item


# -- API ----------------------------------------------------------------------------------------------


class TenderDocumentOut(ResponseModel):
    id: int
    kind: str
    filename: str
    media_type: str
    sha256: str
    size: int
    amendment: bool
    uploaded_at: str
    download: str


class TenderDocumentList(ResponseModel):
    items: list[TenderDocumentOut]


class QuestionOut(ResponseModel):
    number: int
    question: str
    asked_at: str
    answer: str | None
    answered_at: str | None
    changes_documents: bool


class QuestionList(ResponseModel):
    question_deadline: str
    items: list[QuestionOut]
    #: The office's own unanswered queue (empty for everyone else); never who asked.
    unanswered: list[QuestionOut]


class QuestionIn(RequestModel):
    question: Text(questions.MAX_TEXT)


class AnswerIn(RequestModel):
    answer: Text(questions.MAX_TEXT)
    changes_documents: bool = False
    #: Move the deadline when the change leaves less than the minimum notice period.
    extend: bool = False


class AnswerOut(ResponseModel):
    question: QuestionOut
    deadline_moved: bool
    submission_deadline: str


def document_out(d: docs.TenderDocument) -> TenderDocumentOut:
    return TenderDocumentOut(id=d.id, kind=d.kind, filename=d.filename, media_type=d.media_type,
                             sha256=d.sha256, size=d.size, amendment=d.amendment,
                             uploaded_at=d.uploaded_at.isoformat(),
                             download=url_for("tender_files_api.document_file", tender_id=d.tender_id,
                                              document_id=d.id))


def question_out(q: questions.TenderQuestion) -> QuestionOut:
    return QuestionOut(number=q.number, question=q.question, asked_at=q.asked_at.isoformat(), answer=q.answer,
                       answered_at=q.answered_at.isoformat() if q.answered_at else None,
                       changes_documents=q.changes_documents)


def _api_tender(tender_id: int) -> Tender:
    tender = services.visible_tender(tender_id, current_actor())
    if tender is None:
        raise Refused("no such tender", code="not_found", status=404)
    return tender


@api.get("/<int:tender_id>/documents")
@document(summary="A tender's documents and attachments, each with its SHA-256", public=True,
          response=TenderDocumentList)
def list_documents(tender_id: int):
    tender = _api_tender(tender_id)
    return respond(TenderDocumentList(items=[document_out(d) for d in docs.documents_of(tender)]))


@api.get("/<int:tender_id>/documents/<int:document_id>/file")
@document(summary="Download one tender document (bidders once published; logged, sealed until the opening)",
          response=None, content_type="application/octet-stream")
def document_file(tender_id: int, document_id: int):
    tender = _api_tender(tender_id)
    found = db.session.get(docs.TenderDocument, document_id)
    if found is None or found.tender_id != tender.id:
        raise Refused("no such document", code="not_found", status=404)
    return _file_response(found, "application/octet-stream")


#: The upload's body: multipart/form-data with the file and, optionally, its kind and the extension flag.
DOCUMENT_UPLOAD = {"multipart/form-data": {
    "type": "object", "required": ["file"],
    "properties": {
        "file": {"type": "string", "contentMediaType": "application/octet-stream",
                 "description": "the file, named as it is to be listed (.pdf, .docx, .xlsx, .zip, ...)"},
        "kind": {"type": "string", "enum": list(docs.KINDS), "default": docs.MAIN},
        "extend": {"type": "string", "enum": ["true", "false"], "default": "false",
                   "description": "after publication: move the bid deadline when the amendment leaves less "
                                  "than the minimum notice period (else it is refused)"},
    }}}


@api.post("/<int:tender_id>/documents")
@document(summary="Upload a tender document or attachment (the tender's office; to a draft, or as an "
                  "amendment while bids are taken)", uploads=DOCUMENT_UPLOAD, response=TenderDocumentOut,
          status=201)
def upload_document(tender_id: int):
    tender = _api_tender(tender_id)
    sent, form = _received_file()
    added = _upload(tender, sent, form)
    db.session.commit()
    current_app.extensions["ebid.scheduler"].wake("bidding.close")  # the deadline may have moved
    return respond(document_out(added), 201)


@api.delete("/<int:tender_id>/documents/<int:document_id>")
@document(summary="Remove a document from a draft tender (the tender's office)", response=None, status=204)
def remove_document(tender_id: int, document_id: int):
    tender = _api_tender(tender_id)
    found = db.session.get(docs.TenderDocument, document_id)
    if found is None or found.tender_id != tender.id:
        raise Refused("no such document", code="not_found", status=404)
    docs.remove(found, current_actor())
    db.session.commit()
    return "", 204


@api.get("/<int:tender_id>/questions")
@document(summary="The published clarifications (questions with answers); never who asked", public=True,
          response=QuestionList)
def list_questions(tender_id: int):
    tender = _api_tender(tender_id)
    return respond(QuestionList(question_deadline=questions.question_deadline(tender).isoformat(),
                                items=[question_out(q) for q in questions.published(tender)],
                                unanswered=[question_out(q) for q in questions.unanswered(tender)]
                                if _owner(tender) else []))


@api.post("/<int:tender_id>/questions")
@document(summary="Ask a question about a published tender (anonymous to the office)", request=QuestionIn,
          response=QuestionOut, status=201)
def ask_question(tender_id: int):
    tender = _api_tender(tender_id)
    body = validate(QuestionIn, json_body())
    item = questions.ask(tender, current_actor(), body.question)
    db.session.commit()
    return respond(question_out(item), 201)


@api.post("/<int:tender_id>/questions/<int:number>/answer")
@document(summary="Answer a question: published with it to all bidders", request=AnswerIn, response=AnswerOut)
def answer_question(tender_id: int, number: int):
    tender = _api_tender(tender_id)
    body = validate(AnswerIn, json_body())
    from sqlalchemy import select

    item = db.session.scalar(select(questions.TenderQuestion).where(
        questions.TenderQuestion.tender_id == tender.id, questions.TenderQuestion.number == number))
    if item is None:
        raise Refused("no such question", code="not_found", status=404)
    moved = questions.answer(item, current_actor(), body.answer, changes_documents=body.changes_documents,
                             extend=body.extend)
    db.session.commit()
    current_app.extensions["ebid.scheduler"].wake("bidding.close")
    return respond(AnswerOut(question=question_out(item), deadline_moved=moved,
                             submission_deadline=tender.submission_deadline.isoformat()))

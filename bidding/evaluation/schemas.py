"""The evaluation room's API shapes: one model per request and per answer.

The room's state and an expert's sheet are built by the services (`services.snapshot`,
`services.sheet_view`) because the Socket.IO room pushes the same dicts; the JSON API validates them
against these models before answering, so the document says which keys each stage carries. A place
on the sheet is named either by the bid's id or by its anonymous label, never both: those are two
shapes (`...ByBid`, `...ByLabel`), not one with optional keys, so a labelled score never carries a
`bid` key at all.

The request models describe the bodies; the rules that need the tender (a criterion's range, the
lot's bids and labels, a deadline's window) stay in the services, which the room's socket shares.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from core.shapes import RequestModel, ResponseModel

#: A time as the room carries it (ISO 8601, UTC).
IsoTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
#: A decimal as the room carries it ("27.50", "-12.5").
DecimalText = Annotated[str, WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"})]
#: A score as a client sends it: a decimal string or a whole number, never a float. Checked against the
#: criterion's range by the service (which answers `bad_score` / `score_out_of_range`).
ScoreIn = Annotated[Any, WithJsonSchema({"type": ["string", "integer"], "pattern": r"^\d+(\.\d{1,2})?$",
                                         "description": "decimal string or whole number, at most two "
                                                        "decimals, from 0 to the criterion's maximum"})]
#: Text the service checks (length, blank) with its own refusal code.
TextIn = Annotated[Any, WithJsonSchema({"type": "string", "maxLength": 4000})]


# -- requests --


class ScoreEntryIn(RequestModel):
    """One score: the bid by id (`bid`) or, for an anonymous criterion, by label (`label`)."""

    bid: int | None = None
    label: str | None = None
    criterion: int
    score: ScoreIn
    comment: str | None = None


class ScoresIn(RequestModel):
    scores: Annotated[list[ScoreEntryIn], Field(min_length=1, max_length=20_000)]


class JustificationIn(RequestModel):
    justification: Annotated[Any, WithJsonSchema({"type": "string", "minLength": 5, "maxLength": 4000})]


class RevisionIn(RequestModel):
    score: ScoreIn
    comment: str | None = None


class PasswordIn(RequestModel):
    password: str


class QuestionIn(RequestModel):
    """The bid asked about, by id or by its anonymous label, the question and the deadline for the answer."""

    bid: int | None = None
    label: str | None = None
    question: TextIn = None
    deadline: Annotated[Any, WithJsonSchema({"type": "string", "format": "date-time",
                                             "description": "5 minutes to 14 days ahead"})] = None


class AnswerIn(RequestModel):
    answer: TextIn = None


# -- answers --


class CriterionOut(ResponseModel):
    id: int
    name: str
    category: str
    weight: DecimalText
    max_score: DecimalText
    scored_by: str
    anonymous: bool


class ExpertProgress(ResponseModel):
    """Who has submitted, never what."""

    expert: int
    submitted: bool
    submitted_at: IsoTime | None


class Price(ResponseModel):
    amount: DecimalText
    currency: str


class RoomBid(ResponseModel):
    """An opened bid's commercial part (the technical part is shown under a label when anonymous)."""

    bid: int
    bidder: str
    price: Price
    duration_days: int | None
    responses: dict[str, Any]


class LabelledRoomBid(RoomBid):
    """An opened bid when the technical part is not anonymous: its label is shown beside it."""

    label: str | None


class TechnicalPart(ResponseModel):
    label: str
    responses: dict[str, Any]


class _Aggregate(ResponseModel):
    criterion: int
    n: int
    score: DecimalText
    trimmed: bool


class AggregateByBid(_Aggregate):
    bid: int


class AggregateByLabel(_Aggregate):
    label: str


class _Flag(ResponseModel):
    id: int
    criterion: int
    score: DecimalText
    mean: DecimalText
    deviation_pct: DecimalText
    threshold: DecimalText
    state: str
    justification: str | None
    revised_to: DecimalText | None


class SheetFlagByBid(_Flag):
    bid: int


class SheetFlagByLabel(_Flag):
    label: str


class FlagByBid(SheetFlagByBid):
    expert: int | None


class FlagByLabel(SheetFlagByLabel):
    expert: int | None


class RankingRow(ResponseModel):
    bid: int
    bidder: str | None
    rank: int | None
    total: DecimalText | None
    price_points: DecimalText | None
    commercial: DecimalText | None
    technical: DecimalText | None


class ResultOut(ResponseModel):
    inputs_digest: str | None
    lowest_price: DecimalText | None
    benchmark_price: DecimalText | None
    ranking: list[RankingRow]


class ReportSignature(ResponseModel):
    expert: int | None
    field: str
    signed: bool


class ReportOut(ResponseModel):
    document: int
    sha256: str
    signatures: list[ReportSignature]


class ClarificationOut(ResponseModel):
    """A question to a bidder as the bidder sees it: never who on the panel asked."""

    id: int
    tender: int
    reference: str
    bid: int | None
    bidder: str | None
    question: str
    asked_at: IsoTime | None
    deadline: IsoTime | None
    state: str
    answer: str | None
    answered_at: IsoTime | None


class LabelledClarificationOut(ClarificationOut):
    """A question put under an anonymous label, as the room sees it: `bid` and `bidder` are null."""

    label: str


class RoomStateOut(ResponseModel):
    """The room's state, the same for everyone in it: the aggregate and flags once every sheet is in, the
    result once final, the report once issued."""

    panel: int
    tender: int
    reference: str
    title: str
    lot: int
    tender_state: str
    panel_state: str
    state: str
    server_time: IsoTime
    anonymous_technical: bool
    outlier_threshold: DecimalText
    criteria: list[CriterionOut]
    experts: list[ExpertProgress]
    bids: list[LabelledRoomBid | RoomBid]
    technical: list[TechnicalPart]
    aggregate: list[AggregateByBid | AggregateByLabel] | None
    flags: list[FlagByBid | FlagByLabel]
    result: ResultOut | None
    report: ReportOut | None
    clarifications: list[LabelledClarificationOut | ClarificationOut]


class _Score(ResponseModel):
    criterion: int
    score: DecimalText
    comment: str | None


class ScoreByBid(_Score):
    bid: int


class ScoreByLabel(_Score):
    label: str


class SheetOut(ResponseModel):
    """An expert's own sheet, for them alone."""

    panel: int
    expert: int
    state: str
    submitted_at: IsoTime | None
    updated_at: IsoTime | None
    scores: list[ScoreByBid | ScoreByLabel]
    flags: list[SheetFlagByBid | SheetFlagByLabel]

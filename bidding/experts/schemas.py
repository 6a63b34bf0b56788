"""What the expert pool's and the panels' API answers: one response model per shape.

The services build these models; the JSON API answers them and the pages read their JSON form
(`*_json`), so a page, the API and the OpenAPI document show the same fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    WithJsonSchema,
    model_validator,
)

from bidding.experts.models import AvailabilityKind, RelationKind
from core.shapes import Choice, Region, RequestModel, ResponseModel, Text, UtcTime, Whole
from core.validation import ValidationError

#: A calendar day, answered as YYYY-MM-DD.
Day = Annotated[dt.date, PlainSerializer(lambda d: d.isoformat(), return_type=str),
                WithJsonSchema({"type": "string", "format": "date"})]


class SpecialtyCode(ResponseModel):
    code: str
    zh: str
    en: str


class EmployerOut(ResponseModel):
    credit_code: str
    name: str


class SpecialtyOut(ResponseModel):
    code: str
    name: str


class RelationOut(ResponseModel):
    credit_code: str
    kind: str
    name: str | None
    note: str | None


class AvailabilityOut(ResponseModel):
    kind: str
    starts_on: Day
    ends_on: Day
    note: str | None


class ExpertOut(ResponseModel):
    """An expert as the administrator sees them (names included: the pool is the administrator's)."""

    id: int
    username: str
    name: str
    region: str
    title: str | None
    active: bool
    employer: EmployerOut | None
    specialties: list[SpecialtyOut]
    relations: list[RelationOut]
    availability: list[AvailabilityOut]
    created_at: UtcTime
    updated_at: UtcTime | None


class ImportAdded(ResponseModel):
    row: int
    expert: int
    username: str
    initial_password: str | None


class ImportRejected(ResponseModel):
    row: int
    column: str | None
    reason: str


class ImportReportOut(ResponseModel):
    rows: int
    imported: int
    rejected_count: int
    added: list[ImportAdded]
    rejected: list[ImportRejected]


class DrawOut(ResponseModel):
    number: int
    log_index: int | None
    seed: str
    requested_at: UtcTime | None


class MemberOut(ResponseModel):
    """A seat or backup, by pseudonym (names hidden)."""

    id: int
    pseudonym: str
    draw: int
    slot: int
    position: int
    status: str
    specialties: list[str]
    drawn_at: UtcTime | None
    called_up_at: UtcTime | None
    accepted_at: UtcTime | None
    declined_at: UtcTime | None
    replaced_at: UtcTime | None
    replaces: int | None


class MemberExpert(ResponseModel):
    id: int
    name: str
    title: str | None
    employer: str | None


class NamedMemberOut(MemberOut):
    """A seat with the expert's name (after the reveal, or to a supervisor)."""

    expert: MemberExpert


class PanelOut(ResponseModel):
    """A panel as the viewer may see it: names only once revealed (or to a supervisor)."""

    id: int
    tender: int
    lot: int
    state: str
    seats: int
    evaluation_date: Day
    created_at: UtcTime | None
    constituted_at: UtcTime | None
    revealed_at: UtcTime | None
    vacancies: int
    draws: list[DrawOut]
    members: list[NamedMemberOut | MemberOut]


class InvitationTender(ResponseModel):
    id: int
    reference: str
    title: str
    state: str
    tenderee: str


class InvitationOut(MemberOut):
    """A membership as the expert sees it: the tender, the seat, and what they may do."""

    panel: int
    tender: InvitationTender
    lot: int
    evaluation_date: Day
    bidders: list[str] | None
    coi: dict[str, str]
    coi_version: str
    answerable: bool


class DrawRecordOut(ResponseModel):
    """A published draw record: every input needed to recompute the draw (ebid verify-draw)."""

    record: dict[str, Any]
    record_sha256: str
    log_index: int | None


# -- requests ------------------------------------------------------------------------------------------------
#
# The pool's own rules (specialty codes, credit codes, dates, the statement's items) are the functions in
# `pool` and `services`, which the CSV import and the pages share; the fields below call them, and the
# service checks again what needs the database (the user, the employer, the tender's lots).


def _pool_rule(name: str, **options: Any) -> BeforeValidator:
    def check(value: Any) -> Any:
        from bidding.experts import pool  # pool builds the answers above: imported when first used

        return getattr(pool, name)(value, "", **options)

    return BeforeValidator(check)


#: Specialty codes of the list, as a list (or as text separated by ';', ',' or spaces); at least one.
Specialties = Annotated[list[str], _pool_rule("parse_specialties"),
                        WithJsonSchema({"type": ["array", "string"], "items": {"type": "string"},
                                        "description": "codes of /api/experts/specialties, at least one"})]
CreditCode = Annotated[str, _pool_rule("parse_credit_code"),
                       WithJsonSchema({"type": "string", "minLength": 18, "maxLength": 18,
                                       "description": "unified social credit code (GB 32100-2015)"})]
DayIn = Annotated[dt.date, _pool_rule("parse_date"),
                  PlainSerializer(lambda d: d.isoformat(), return_type=str),
                  WithJsonSchema({"type": "string", "format": "date"})]


class RelationIn(RequestModel):
    """A tie to an organisation (by credit code) that keeps the expert off its tenders."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    credit_code: CreditCode
    kind: Choice(RelationKind) = RelationKind.OTHER
    name: Text(200, required=False) | None = None
    note: Text(500, required=False) | None = None


class AvailabilityIn(RequestModel):
    """A date range the expert is (or is not) available; `ends_on` defaults to `starts_on`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Choice(AvailabilityKind)
    starts_on: DayIn
    ends_on: DayIn | None = None
    note: Text(500, required=False) | None = None

    @model_validator(mode="after")
    def _in_order(self) -> AvailabilityIn:
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValidationError("ends_on",
                                  f"the range ends ({self.ends_on}) before it starts ({self.starts_on})")
        return self


class _ExpertFields(RequestModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Text(100, required=False) | None = None
    #: The employer's credit code (a registered organisation); empty for none.
    employer: Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "maxLength": 18})] = None
    active: StrictBool = True
    relations: Annotated[list[RelationIn], Field(max_length=100)] = []
    availability: Annotated[list[AvailabilityIn], Field(max_length=100)] = []


class ExpertIn(_ExpertFields):
    """A new pool member: an existing expert user (`username`), or a new account (with `display_name` and an
    initial `password`)."""

    username: Text(64)
    display_name: Text(100, required=False) | None = None
    password: str | None = None
    region: Region
    specialties: Specialties


class ExpertPatch(_ExpertFields):
    """The fields to change (lists are replaced whole); the account itself is changed on the user's page."""

    region: Region = None
    specialties: Specialties = None

    @model_validator(mode="before")
    @classmethod
    def _not_the_account(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data:
                raise ValidationError(None, "give the fields to change as a JSON object")
            for name in ("username", "display_name", "password"):
                if name in data:
                    raise ValidationError(name, "an expert's account is changed on the user's page, not here")
        return data


class SlotIn(RequestModel):
    """Seats for experts of these specialties, and backups called up in order if one does not take it."""

    specialties: Specialties
    count: Whole(minimum=1, maximum=25)
    backups: Whole(minimum=0, maximum=25) = 0


class DrawIn(RequestModel):
    """A draw for a lot: its slots (or one slot given as `specialties`, `count`, `backups`), the regions it
    keeps to (division code prefixes) and, for a new panel, the evaluation date."""

    lot: Whole(minimum=1) = 1
    evaluation_date: DayIn | None = None
    slots: Annotated[list[SlotIn], Field(min_length=1, max_length=10)] | None = None
    regions: Annotated[list[str] | str | None,
                       WithJsonSchema({"type": ["array", "string", "null"], "items": {"type": "string"},
                                       "description": "division code prefixes of 2, 4 or 6 digits"})] = None
    specialties: Specialties | None = None
    count: Whole(minimum=1, maximum=25) | None = None
    backups: Whole(minimum=0, maximum=25) | None = None


class AcceptIn(RequestModel):
    """The conflict-of-interest statement, every item confirmed (`true`)."""

    coi: dict[str, StrictBool]


class DeclineIn(RequestModel):
    """Why the expert declines, and (optionally) which statement items do not hold."""

    reason: Text(2000)
    coi: dict[str, StrictBool] | None = None


class ReplaceIn(RequestModel):
    reason: Text(2000)

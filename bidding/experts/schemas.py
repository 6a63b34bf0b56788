"""What the expert pool's and the panels' API answers: one response model per shape.

The services build these models; the JSON API answers them and the pages read their JSON form
(`*_json`), so a page, the API and the OpenAPI document show the same fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import PlainSerializer, WithJsonSchema

from app.shapes import ResponseModel, UtcTime

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

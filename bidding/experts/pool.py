"""Managing the expert pool: add, change and import experts. Services flush and never commit.

Every change is an audit-log entry naming the expert's pool number (never their name: the log is public)
and the SHA-256 of the expert's pool record after the change, so an auditor holding the database can tie
the record to the log.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bidding.experts import specialties
from bidding.experts.models import (
    AvailabilityKind,
    Expert,
    ExpertAvailability,
    ExpertRelation,
    ExpertSpecialty,
    RelationKind,
)
from bidding.experts.schemas import (
    AvailabilityOut,
    EmployerOut,
    ExpertOut,
    ImportReportOut,
    RelationOut,
    SpecialtyOut,
)
from core import credit_code as uscc
from core.accounts import create_user
from core.extensions import db
from core.models import Organisation, Role, User
from core.orm import utcnow
from core.validation import ValidationError, parse_choice, parse_region, parse_text
from signing import audit
from signing.canonical import canonical_json

MAX_NOTE = 500
MAX_RANGES = 100
MAX_RELATIONS = 100


# -- parsing the parts of an expert --------------------------------------------------------------------------


def parse_specialties(value: Any, field_: str = "specialties") -> list[str]:
    """Codes of the list, given as a list or as text separated by ';', ',' or spaces; at least one."""
    if isinstance(value, str):
        value = [v for v in value.replace(";", " ").replace(",", " ").replace("；", " ").split() if v]
    if not isinstance(value, list) or not value:
        raise ValidationError(field_, "at least one specialty code is required, e.g. A01")
    codes = []
    for item in value:
        code = item.strip().upper() if isinstance(item, str) else item
        if not specialties.is_code(code):
            raise ValidationError(field_, f"unknown specialty code {item!r}; the codes are listed at "
                                          "/api/experts/specialties")
        if code not in codes:
            codes.append(code)
    return sorted(codes)


def parse_credit_code(value: Any, field_: str) -> str:
    try:
        return uscc.validate(value)
    except uscc.CreditCodeError as exc:
        raise ValidationError(field_, exc.translated()) from None


def employer_by_code(value: Any, field_: str = "employer") -> Organisation | None:
    """The registered organisation with this credit code; None for an empty value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    code = parse_credit_code(value, field_)
    org = db.session.scalar(select(Organisation).where(Organisation.credit_code == code))
    if org is None:
        raise ValidationError(field_, f"no organisation with credit code {code} is registered; "
                                      "register the employer first")
    return org


def parse_date(value: Any, field_: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field_, "a date is required, as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(field_, f"not a date: {value!r}; write YYYY-MM-DD") from None


def _note(item: dict[str, Any], where: str) -> str:
    return parse_text(item.get("note"), f"{where}.note", max_length=MAX_NOTE, required=False)


def parse_relations(value: Any, field_: str = "relations") -> list[dict[str, Any]]:
    """[{"credit_code", "kind", "name", "note"}]; a duplicate (code, kind) is refused."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(field_, "a list of {credit_code, kind, name, note} is required")
    if len(value) > MAX_RELATIONS:
        raise ValidationError(field_, f"at most {MAX_RELATIONS} relations")
    out, seen = [], set()
    for i, item in enumerate(value):
        where = f"{field_}[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(where, "an object {credit_code, kind, name, note} is required")
        code = parse_credit_code(item.get("credit_code"), f"{where}.credit_code")
        kind = parse_choice(item.get("kind") or RelationKind.OTHER.value, f"{where}.kind", RelationKind)
        if (code, kind) in seen:
            raise ValidationError(where, f"the relation {kind.value} with {code} is given twice")
        seen.add((code, kind))
        out.append({"credit_code": code, "kind": kind,
                    "name": parse_text(item.get("name"), f"{where}.name", max_length=200, required=False),
                    "note": _note(item, where)})
    return out


def parse_availability(value: Any, field_: str = "availability") -> list[dict[str, Any]]:
    """[{"kind": "unavailable"|"available", "starts_on", "ends_on", "note"}], each range in order."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(field_, "a list of {kind, starts_on, ends_on, note} is required")
    if len(value) > MAX_RANGES:
        raise ValidationError(field_, f"at most {MAX_RANGES} date ranges")
    out = []
    for i, item in enumerate(value):
        where = f"{field_}[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(where, "an object {kind, starts_on, ends_on, note} is required")
        kind = parse_choice(item.get("kind"), f"{where}.kind", AvailabilityKind)
        starts = parse_date(item.get("starts_on"), f"{where}.starts_on")
        ends = parse_date(item.get("ends_on") or item.get("starts_on"), f"{where}.ends_on")
        if ends < starts:
            raise ValidationError(f"{where}.ends_on", f"the range ends ({ends}) before it starts ({starts})")
        out.append({"kind": kind, "starts_on": starts, "ends_on": ends, "note": _note(item, where)})
    return out


def available_on(expert: Expert, day: dt.date) -> bool:
    """No unavailable range covers the day, and, if the expert gave available ranges, one covers it."""
    ranges = expert.availability
    if any(r.kind == AvailabilityKind.UNAVAILABLE and r.starts_on <= day <= r.ends_on for r in ranges):
        return False
    windows = [r for r in ranges if r.kind == AvailabilityKind.AVAILABLE]
    return not windows or any(r.starts_on <= day <= r.ends_on for r in windows)


# -- the record and its log entries --------------------------------------------------------------------------


def pool_record(expert: Expert) -> dict[str, Any]:
    """The expert's pool record as canonical-JSON-ready data (what the log's state hash covers)."""
    return {
        "expert": expert.id, "user": expert.user_id, "region": expert.region, "title": expert.title,
        "employer": expert.employer.credit_code if expert.employer else None, "active": expert.active,
        "specialties": expert.specialty_codes,
        "relations": sorted([[r.credit_code, r.kind.value, r.organisation_name, r.note]
                             for r in expert.relations]),
        "availability": sorted([[r.kind.value, r.starts_on.isoformat(), r.ends_on.isoformat(), r.note]
                                for r in expert.availability]),
    }


def state_sha256(expert: Expert) -> str:
    return hashlib.sha256(canonical_json(pool_record(expert))).hexdigest()


def _log(event: str, actor: User | None, expert: Expert, data: dict[str, Any]) -> None:
    db.session.flush()
    db.session.refresh(expert)
    audit.record(event, actor=actor, subject={"expert": expert.id},
                 data={**data, "state_sha256": state_sha256(expert)})


# -- adding and changing experts -----------------------------------------------------------------------------


def _expert_user(username: Any, display_name: Any, password: Any) -> tuple[User, bool]:
    """The expert's account: an existing EXPERT user without a pool record, or a new one."""
    name = parse_text(username, "username", max_length=64).lower()
    user = db.session.scalar(select(User).where(User.username == name))
    if user is None:
        if not password:
            raise ValidationError("password", f"there is no user {name!r}: give a display name and an "
                                              "initial password to make the account")
        return create_user(username=name, display_name=display_name, password=password, role=Role.EXPERT,
                           organisation=None), True
    if user.role != Role.EXPERT:
        raise ValidationError("username", f"user {name!r} has the role {user.role.value}, not expert")
    if db.session.scalar(select(Expert.id).where(Expert.user_id == user.id)) is not None:
        raise ValidationError("username", f"user {name!r} is already in the expert pool")
    return user, False


def _apply(expert: Expert, data: dict[str, Any], *, partial: bool) -> list[str]:
    """Set the fields `data` gives; the names of those set. Everything is parsed before anything changes."""
    parsed: dict[str, Any] = {}
    if "region" in data or not partial:
        parsed["region"] = parse_region(data.get("region"))
    if "title" in data:
        parsed["title"] = parse_text(data.get("title"), "title", max_length=100, required=False)
    if "employer" in data:
        parsed["employer"] = employer_by_code(data.get("employer"))
    if "specialties" in data or not partial:
        parsed["specialties"] = parse_specialties(data.get("specialties"))
    if "relations" in data:
        parsed["relations"] = parse_relations(data.get("relations"))
    if "availability" in data:
        parsed["availability"] = parse_availability(data.get("availability"))
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ValidationError("active", "true or false")
        parsed["active"] = data["active"]
    unknown = sorted(set(data) - {"region", "title", "employer", "specialties", "relations", "availability",
                                  "active", "username", "display_name", "password"})
    if unknown:
        raise ValidationError(unknown[0], f"unknown field {unknown[0]!r}")
    for name in ("region", "title", "active"):
        if name in parsed:
            setattr(expert, name, parsed[name])
    if "employer" in parsed:
        expert.employer = parsed["employer"]
    if "specialties" in parsed:
        expert.specialties = [ExpertSpecialty(code=c) for c in parsed["specialties"]]
    if "relations" in parsed:
        expert.relations = [ExpertRelation(credit_code=r["credit_code"], kind=r["kind"],
                                           organisation_name=r["name"], note=r["note"])
                            for r in parsed["relations"]]
    if "availability" in parsed:
        expert.availability = [ExpertAvailability(kind=r["kind"], starts_on=r["starts_on"],
                                                  ends_on=r["ends_on"], note=r["note"])
                               for r in parsed["availability"]]
    return sorted(parsed)


def add_expert(actor: User, data: dict[str, Any], *, source: str = "api") -> Expert:
    """A new pool member from {username, [display_name, password,] region, specialties, employer, ...}."""
    return _add_expert(actor, data, source=source)[0]


def _add_expert(actor: User, data: dict[str, Any], *, source: str) -> tuple[Expert, bool]:
    """The new expert, and whether their user account was made too."""
    if not isinstance(data, dict):
        raise ValidationError(None, "a JSON object is required")
    user, made = _expert_user(data.get("username"), data.get("display_name"), data.get("password"))
    expert = Expert(user=user, secret=os.urandom(32), active=True, title="")
    _apply(expert, data, partial=False)
    db.session.add(expert)
    db.session.flush()
    _log("expert.added", actor, expert, {"source": source, "account_created": made})
    return expert, made


def update_expert(actor: User, expert: Expert, data: dict[str, Any]) -> list[str]:
    """Change some fields of an expert; the names of the fields changed."""
    if not isinstance(data, dict) or not data:
        raise ValidationError(None, "give the fields to change as a JSON object")
    for name in ("username", "display_name", "password"):
        if name in data:
            raise ValidationError(name, "an expert's account is changed on the user's page, not here")
    changed = _apply(expert, data, partial=True)
    expert.updated_at = utcnow()
    _log("expert.updated", actor, expert, {"fields": changed})
    return changed


def expert_out(expert: Expert, locale: str | None = None) -> ExpertOut:
    """An expert as the administrator sees them (names included: the pool is the administrator's)."""
    return ExpertOut(
        id=expert.id, username=expert.user.username, name=expert.user.display_name,
        region=expert.region, title=expert.title, active=expert.active,
        employer=(EmployerOut(credit_code=expert.employer.credit_code, name=expert.employer.name)
                  if expert.employer else None),
        specialties=[SpecialtyOut(code=c, name=specialties.label(c, locale))
                     for c in expert.specialty_codes],
        relations=[RelationOut(credit_code=r.credit_code, kind=r.kind.value, name=r.organisation_name,
                               note=r.note) for r in expert.relations],
        availability=[AvailabilityOut(kind=r.kind.value, starts_on=r.starts_on, ends_on=r.ends_on,
                                      note=r.note) for r in expert.availability],
        created_at=expert.created_at,
        updated_at=expert.updated_at,
    )


def expert_json(expert: Expert, locale: str | None = None) -> dict[str, Any]:
    """`expert_out` as JSON, for pages."""
    return expert_out(expert, locale).model_dump(mode="json")


# -- CSV import ----------------------------------------------------------------------------------------------

#: Columns of an import file; the first five are required in the header.
REQUIRED_COLUMNS = ("username", "display_name", "region", "specialties", "employer_credit_code")
OPTIONAL_COLUMNS = ("title", "relations", "unavailable", "available")
MAX_IMPORT_ROWS = 5000


@dataclass
class ImportReport:
    """What an import did: experts added (with the initial passwords of accounts it made) and rows refused."""

    rows: int = 0
    added: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: int, column: str | None, reason: str) -> None:
        self.rejected.append({"row": row, "column": column, "reason": reason})

    def as_model(self) -> ImportReportOut:
        return ImportReportOut(rows=self.rows, imported=len(self.added), rejected_count=len(self.rejected),
                               added=self.added, rejected=self.rejected)

    def as_json(self) -> dict[str, Any]:
        return self.as_model().model_dump(mode="json")


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without Excel's BOM), else GB 18030 as Chinese spreadsheet software saves."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ValidationError("file", "the file is neither UTF-8 nor GB 18030 text") from None


def _read_table(raw: bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows; any problem of structure refuses the whole file."""
    if not raw or not raw.strip():
        raise ValidationError("file", "the file is empty")
    text = _decode(raw)
    if "\x00" in text:
        raise ValidationError("file", "the file is not a CSV text file (it contains NUL bytes)")
    try:
        table = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise ValidationError("file", f"the file is not valid CSV: {exc}") from None
    table = [row for row in table if any(cell.strip() for cell in row)]
    if not table:
        raise ValidationError("file", "the file is empty")
    header = [h.strip().lower() for h in table[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValidationError("file", f"the header lacks the column(s) {', '.join(missing)}; the columns are "
                                      f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}")
    unknown = [h for h in header if h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ValidationError("file", f"unknown column(s) in the header: {', '.join(unknown)}")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ValidationError("file", f"the column(s) {', '.join(repeated)} appear twice in the header")
    if len(table) - 1 > MAX_IMPORT_ROWS:
        raise ValidationError("file", f"at most {MAX_IMPORT_ROWS} rows per file; split it")
    return header, table[1:]


def _cell_ranges(text: str, kind: AvailabilityKind) -> list[dict[str, Any]]:
    """'2026-12-01..2026-12-05; 2027-01-10' -> availability items."""
    items = []
    for part in (p.strip() for p in text.replace("；", ";").split(";")):
        if not part:
            continue
        starts, _, ends = part.partition("..")
        items.append({"kind": kind.value, "starts_on": starts.strip(), "ends_on": (ends or starts).strip()})
    return items


def _cell_relations(text: str) -> list[dict[str, Any]]:
    """'91350100M000100Y3X:former_employer; 91350100...' -> relation items (kind defaults to other)."""
    items = []
    for part in (p.strip() for p in text.replace("；", ";").split(";")):
        if part:
            code, _, kind = part.partition(":")
            items.append({"credit_code": code.strip(), "kind": kind.strip() or RelationKind.OTHER.value})
    return items


#: Which import column a service field's errors belong to.
_FIELD_COLUMN = {"username": "username", "display_name": "display_name", "password": "username",
                 "region": "region", "specialties": "specialties", "employer": "employer_credit_code",
                 "title": "title"}


def _column_of(field_: str | None) -> str | None:
    if field_ is None:
        return None
    head = field_.split("[", 1)[0].split(".", 1)[0]
    if head == "relations":
        return "relations"
    if head == "availability":
        return "unavailable/available"
    return _FIELD_COLUMN.get(head, head)


def import_csv(actor: User, raw: bytes, *, filename: str = "") -> ImportReport:
    """Add the experts of a CSV file; each bad row is reported (row, column, reason) and the others added.

    A file whose structure is wrong (encoding, CSV syntax, header) is refused whole: nothing is added.
    Row numbers count as a spreadsheet shows them: the header is row 1.
    """
    header, rows = _read_table(raw)
    report = ImportReport(rows=len(rows))
    seen: dict[str, int] = {}
    for number, cells in enumerate(rows, start=2):
        if len(cells) > len(header):
            report.reject(number, None,
                          f"the row has {len(cells)} cells but the header has {len(header)} columns")
            continue
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
        username = row["username"].lower()
        if username in seen:
            report.reject(number, "username", f"the username {username!r} is already on row {seen[username]}")
            continue
        seen[username] = number
        password = secrets.token_urlsafe(12)
        data: dict[str, Any] = {
            "username": username, "display_name": row["display_name"], "password": password,
            "region": row["region"], "specialties": row["specialties"],
            "employer": row["employer_credit_code"],
        }
        if row.get("title"):
            data["title"] = row["title"]
        if row.get("relations"):
            data["relations"] = _cell_relations(row["relations"])
        ranges = _cell_ranges(row.get("unavailable", ""), AvailabilityKind.UNAVAILABLE) \
            + _cell_ranges(row.get("available", ""), AvailabilityKind.AVAILABLE)
        if ranges:
            data["availability"] = ranges
        nested = db.session.begin_nested()  # a row is added whole or not at all
        try:
            expert, made = _add_expert(actor, data, source="csv")
        except ValidationError as exc:
            nested.rollback()
            report.reject(number, _column_of(exc.field), exc.message)
            continue
        nested.commit()
        report.added.append({"row": number, "expert": expert.id, "username": username,
                             "initial_password": password if made else None})
    audit.record("expert.imported", actor=actor, subject={"pool": "experts"},
                 data={"file_sha256": hashlib.sha256(raw).hexdigest(), "filename": filename[:200],
                       "rows": report.rows, "imported": [a["expert"] for a in report.added],
                       "rejected": [{"row": r["row"], "column": r["column"]} for r in report.rejected]})
    return report

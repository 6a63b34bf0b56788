"""Organisations, their kinds, and the people who act for them with a role."""

from __future__ import annotations

import datetime as dt
import enum

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.orm import Base, created_at, intpk


def enum_column(kind: type[enum.Enum], **kw):
    """A string-backed enum column storing the member's value, with a named check constraint."""
    return Enum(kind, values_callable=lambda e: [m.value for m in e], native_enum=False,
                validate_strings=True, length=32, **kw)


class OrganisationKind(enum.StrEnum):
    """What an organisation is on the platform."""

    #: A tenderee or its tendering agency: publishes tenders, hosts openings.
    TENDERING_OFFICE = "tendering_office"
    #: A company that bids.
    BIDDER = "bidder"
    #: A bank or insurer that issues e-guarantees.
    ISSUER = "issuer"
    #: A supervisory body that audits tenders.
    SUPERVISOR = "supervisor"
    #: The platform operator itself.
    OPERATOR = "operator"


class Role(enum.StrEnum):
    """What a user may do; each role belongs with one kind of organisation."""

    #: Staff of a tendering office.
    TENDERING_OFFICE = "tendering_office"
    #: Staff of a bidder company.
    BIDDER = "bidder"
    #: A member of the expert pool.
    EXPERT = "expert"
    #: Staff of a bank or insurer.
    ISSUER = "issuer"
    #: A supervisor or auditor: reads everything after the fact.
    SUPERVISOR = "supervisor"
    #: Runs the platform; can never read a bid before its opening.
    ADMINISTRATOR = "administrator"


#: Which organisation kinds a role's user may belong to (experts sit in the pool as individuals,
#: attached to their employer when they have one).
ROLE_ORGANISATION_KINDS: dict[Role, frozenset[OrganisationKind]] = {
    Role.TENDERING_OFFICE: frozenset({OrganisationKind.TENDERING_OFFICE}),
    Role.BIDDER: frozenset({OrganisationKind.BIDDER}),
    Role.EXPERT: frozenset(OrganisationKind),
    Role.ISSUER: frozenset({OrganisationKind.ISSUER}),
    Role.SUPERVISOR: frozenset({OrganisationKind.SUPERVISOR}),
    Role.ADMINISTRATOR: frozenset({OrganisationKind.OPERATOR}),
}


class Organisation(Base):
    """A legal entity identified by its unified social credit code."""

    __tablename__ = "organisations"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrganisationKind] = mapped_column(enum_column(OrganisationKind, name="organisation_kind"))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    #: Administrative division code of the registration (GB/T 2260), e.g. 350100 for Fuzhou.
    region: Mapped[str] = mapped_column(String(6))
    created_at: Mapped[created_at]

    users: Mapped[list[User]] = relationship(back_populates="organisation")

    __table_args__ = (CheckConstraint("length(credit_code) = 18", name="credit_code_length"),)

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.credit_code}>"


class User(UserMixin, Base):
    """A person who signs in; acts with exactly one role for one organisation."""

    __tablename__ = "users"

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, name="user_role"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    locale: Mapped[str | None] = mapped_column(String(8))
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    #: Bumped on password change so existing sessions and tokens stop working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[created_at]

    organisation: Mapped[Organisation | None] = relationship(back_populates="users")

    def get_id(self) -> str:
        """Flask-Login's session id: includes the version so a password change ends old sessions."""
        return f"{self.id}:{self.session_version}"

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"

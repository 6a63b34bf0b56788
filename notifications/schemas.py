"""What the notifications API answers and reads: one model per shape (core/shapes.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.shapes import RequestModel, ResponseModel, UtcTime, Whole


class NotificationOut(ResponseModel):
    id: int
    kind: str = Field(description="the message key, e.g. panel.invited, deadline.1h (docs/notifications.md)")
    title: str = Field(description="in the reader's language")
    body: str = Field(description="in the reader's language")
    link: str | None = Field(description="a path on this platform")
    params: dict[str, Any] = Field(description="the message's parameters (tender, reference, title, "
                                               "times...)")
    created_at: UtcTime
    read_at: UtcTime | None


class NotificationPage(ResponseModel):
    items: list[NotificationOut]
    page: int
    per_page: int
    total: int
    pages: int
    unread: int


class NotificationQuery(RequestModel):
    page: Whole(minimum=1, maximum=100000) = 1


class MarkedOut(ResponseModel):
    marked: int = Field(description="how many notifications this call marked read")
    unread: int


class RoleCounts(ResponseModel):
    total: int
    unread: int


class SummaryOut(ResponseModel):
    """Counts only, never a notification's content or recipient."""

    roles: dict[str, RoleCounts]

"""Reading a multipart/form-data body that carries one file larger than an ordinary form.

`MAX_CONTENT_LENGTH` bounds every request; a view that takes a file of its own limit (a tender document,
a complaint's evidence) raises the bound for that one request to the file's limit plus room for the form
around it, and refuses a larger body before reading it, by its declared length, or while reading it.
The refusal is a `ValidationError` naming the file's field, so the page and the API answer it as any
other bad field, and nothing has been stored.
"""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage, ImmutableMultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from core.validation import ValidationError

#: Room for the multipart envelope and the form's other fields around the file.
FORM_OVERHEAD = 64 * 1024


def too_large(field: str, limit: int) -> ValidationError:
    return ValidationError(field, _("The file is larger than the limit of %(mb)s MB; nothing was stored.",
                                    mb=f"{limit / 1_000_000:g}"))


def read_file_form(field: str, limit: int) -> tuple[FileStorage | None, ImmutableMultiDict]:
    """The request's file `field` (None when none was chosen) and its other form fields, within `limit`
    bytes of file."""
    length = request.content_length
    if length is not None and length > limit + FORM_OVERHEAD:
        raise too_large(field, limit)
    request.max_content_length = limit + FORM_OVERHEAD
    try:
        sent = request.files.get(field)
        form = request.form
    except RequestEntityTooLarge:
        raise too_large(field, limit) from None
    return (sent if sent is not None and sent.filename else None), form

"""Domain errors raised by services; translated at the edge (pages and API) in one place.

A message is English text with %(name)s placeholders, marked with ``N_`` so the catalogue
has it, and its values as keyword arguments: the API answers ``message`` (the English
text, values filled in), pages show the same sentence in the reader's language
(``portal.pages.say``)."""
from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802 - the name gettext tools look for
    """Mark a message for the translation catalogue; it is translated when shown."""
    return message


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, **params: Any) -> None:
        self.template = message
        self.params = params
        self.message = message % params if params else message
        super().__init__(self.message)


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Invalid(DomainError):
    status = 400
    code = "invalid"


class Conflict(DomainError):
    status = 409
    code = "conflict"

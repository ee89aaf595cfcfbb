"""Domain errors raised by services; translated at the edge (pages and API) in one place."""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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

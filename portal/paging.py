"""Pages of a list, the same everywhere: the page number, its size (at most MAX_PER_PAGE)
and the number of pages."""
from __future__ import annotations

from portal.errors import N_, Invalid

MAX_PER_PAGE = 100


def check_page(page: int, per_page: int) -> None:
    """Invalid unless page ≥ 1 and 1 ≤ per_page ≤ MAX_PER_PAGE."""
    if page < 1:
        raise Invalid(N_("page must be 1 or more"))
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise Invalid(N_("per_page must be between 1 and %(max_per_page)s"),
                      max_per_page=MAX_PER_PAGE)


class Paged:
    """For a page's dataclass with ``total`` and ``per_page``: how many pages there are."""

    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

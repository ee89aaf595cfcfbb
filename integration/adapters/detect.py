"""Choose the adapter for a file: by name, or by sniffing its first bytes."""
from __future__ import annotations

from os import PathLike
from typing import Any

from integration.adapters.base import FeedRejected
from integration.adapters.safexml import open_checked

ADAPTERS = ("auto", "cbs", "camt053")


def open_adapter(path: str | PathLike[str], name: str, max_bytes: int) -> Any:
    from integration.adapters import camt053, cbs

    if name not in ADAPTERS:
        raise FeedRejected(f"unknown adapter {name!r}; use one of {', '.join(ADAPTERS)}")
    if name == "auto":
        # Size, emptiness and encoding are refused with their own reason before sniffing.
        reader = open_checked(path, max_bytes)
        try:
            head = reader.read(4096)
        finally:
            reader.close()
        if cbs.sniff(head):
            name = "cbs"
        elif camt053.sniff(head):
            name = "camt053"
        else:
            raise FeedRejected("neither a urn:bankcrm:feed:1 feed nor an ISO 20022 camt file")
    if name == "cbs":
        return cbs.CbsAdapter(path, max_bytes)
    return camt053.CamtAdapter(path, max_bytes)

"""Validation of a feed file against the project's XML Schema for urn:bankcrm:feed:1.

The pipeline checks record values itself, record by record, so that one bad record is
quarantined instead of failing the file; this strict, whole-file check is for the source
systems' teams (`crm validate`) and for our own generators' tests."""
from __future__ import annotations

from functools import lru_cache
from os import PathLike
from pathlib import Path

from lxml import etree

from integration.adapters.base import FeedRejected
from integration.adapters.safexml import open_checked

SCHEMA = Path(__file__).resolve().parent.parent / "schema" / "feed-v1.xsd"


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(SCHEMA), parser))


def validate_file(path: str | PathLike[str], max_bytes: int) -> list[str]:
    """The schema violations of the file (empty when valid); streams in flat memory."""
    try:
        reader = open_checked(path, max_bytes)
    except FeedRejected as exc:  # too large, not UTF-8, a DTD: refused before parsing
        return [exc.reason]
    try:
        events = etree.iterparse(reader, events=("end",), schema=schema(), encoding="utf-8",
                                 resolve_entities=False, load_dtd=False, no_network=True,
                                 huge_tree=False)
        for _event, elem in events:
            if elem.getparent() is not None and elem.getparent().getparent() is not None \
                    and elem.getparent().getparent().getparent() is None:
                # A record (Feed/Section/Record) is done: free it and its predecessors.
                elem.clear(keep_tail=False)
                while elem.getprevious() is not None:
                    del elem.getparent()[0]
            if elem.getroottree().docinfo.doctype:
                return ["a DTD (DOCTYPE) is not allowed in a feed"]
    except etree.XMLSyntaxError as exc:
        return [str(exc)]
    except FeedRejected as exc:
        return [exc.reason]
    finally:
        reader.close()
    return []

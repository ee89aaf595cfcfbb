"""Translation catalogues: compiled from the committed .po files when missing or stale."""
from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def compile_catalogues(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile every messages.po whose messages.mo is missing or older; returns those done."""
    done = []
    for po in directory.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        with mo.open("wb") as target:
            write_mo(target, catalog)
        done.append(mo)
    return done

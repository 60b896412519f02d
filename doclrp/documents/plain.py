"""Plain text files: UTF-8 (a BOM allowed) or UTF-16 with its BOM.

>>> decode_text("Grüße".encode("utf-16"), "a.txt")
'Grüße'
>>> decode_text(b"caf\\xe9", "a.txt")
Traceback (most recent call last):
doclrp.errors.DoclrpError: a.txt is not UTF-8 text (byte 3); convert it to UTF-8
"""

from __future__ import annotations

import codecs

from doclrp.documents.source import SourceText
from doclrp.errors import DoclrpError

__all__ = ["decode_text", "read_text", "BOMS"]

#: Byte order marks and the encoding each announces (UTF-32 before UTF-16: it starts the same).
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode_text(data: bytes, name: str) -> str:
    """``data`` as text: by its BOM, else UTF-8; one line naming the first bad byte otherwise."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as error:
                raise DoclrpError(f"{name} is not {encoding.upper().replace('-SIG', '')} text although it starts "
                                  f"with that byte order mark (byte {error.start}); convert it to UTF-8") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DoclrpError(f"{name} is not UTF-8 text (byte {error.start}); convert it to UTF-8") from None


def read_text(data: bytes, name: str) -> SourceText:
    return SourceText(decode_text(data, name), kind="text", name=name)

"""Word ``.docx`` files read from the zip's XML directly: paragraphs, tables cell by cell,
headers and footers, in document order.

>>> import io, zipfile
>>> buffer = io.BytesIO()
>>> with zipfile.ZipFile(buffer, "w") as archive:
...     archive.writestr("word/document.xml", '<w:document xmlns:w="' + W + '"><w:body>'
...                      '<w:p><w:r><w:t>Dear Ann,</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">'
...                      'Pay </w:t></w:r><w:r><w:t>now.</w:t></w:r></w:p></w:body></w:document>')
>>> read_docx(buffer.getvalue(), "letter.docx", Limits()).text
'Dear Ann,\\n\\nPay now.'

The zip's directory is checked before any part is read: the parts' unzipped sizes together
at most ``Limits.max_unzipped`` and no part unzipping to more than ``Limits.max_ratio`` times
its zipped size (a zip bomb is refused by its directory); the parts are then read with the
same caps enforced on the bytes that come out, so a directory that lies gains nothing.
XML with a document type declaration (entities, external resources) is refused: Word never
writes one. Nothing runs: macros (``vbaProject.bin``), embedded objects and remote templates
are parts this reader never opens.
"""

from __future__ import annotations

import io
import posixpath
import xml.parsers.expat
import zipfile
from collections.abc import Callable

from doclrp.documents.limits import Deadline, Limits
from doclrp.documents.source import SourceText, join_texts
from doclrp.errors import DoclrpError

__all__ = ["read_docx", "W", "is_docx"]

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
MAIN_PART = "word/document.xml"


def is_docx(archive: zipfile.ZipFile) -> bool:
    return MAIN_PART in archive.namelist()


def read_docx(data: bytes, name: str, limits: Limits, deadline: Deadline | None = None) -> SourceText:
    """Headers, the body (paragraphs; tables cell by cell) and footers of a ``.docx``."""
    deadline = deadline or limits.deadline()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DoclrpError(f"{name} is not a readable Word file (a broken zip archive: {error})") from None
    with archive:
        _check_directory(archive, name, limits)
        if not is_docx(archive):
            raise DoclrpError(f"{name} is a zip archive without {MAIN_PART}: not a Word .docx file")
        budget = [limits.max_unzipped]

        def part(path: str) -> bytes:
            deadline.check(f"reading {name}")
            return _read_part(archive, path, name, limits, budget)

        headers, footers = _header_footer_parts(archive, part)
        texts = [_part_text(part(path), name, limits) for path in headers]
        texts.append(_part_text(part(MAIN_PART), name, limits))
        texts += [_part_text(part(path), name, limits) for path in footers]
    text = join_texts(texts)
    if not text:
        raise DoclrpError(f"{name} is a Word file without text")
    return SourceText(text, kind="docx", name=name)


def _check_directory(archive: zipfile.ZipFile, name: str, limits: Limits) -> None:
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.file_size > limits.max_ratio * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
            raise DoclrpError(f"{name}: part {info.filename!r} unzips to {info.file_size:,} bytes from "
                              f"{info.compress_size:,} (over {limits.max_ratio:g}×): refused as a zip bomb")
    if total > limits.max_unzipped:
        raise DoclrpError(f"{name} unzips to {total:,} bytes, more than {limits.max_unzipped:,}: refused as a "
                          "zip bomb (raise max_unzipped to read it)")


def _read_part(archive: zipfile.ZipFile, path: str, name: str, limits: Limits, budget: list[int]) -> bytes:
    """One part, its unzipped bytes counted against what is left of the budget as they come out."""
    try:
        info = archive.getinfo(path)
    except KeyError:
        raise DoclrpError(f"{name} lists part {path!r}, which the archive lacks: a broken Word file") from None
    cap = min(budget[0], int(limits.max_ratio * max(info.compress_size, 1)) + 1024 * 1024)
    try:
        with archive.open(info) as stream:
            data = stream.read(cap + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, ValueError) as error:
        raise DoclrpError(f"{name}: part {path!r} cannot be unzipped ({error}): a broken Word file") from None
    if len(data) > cap:
        raise DoclrpError(f"{name}: part {path!r} unzips to more than its directory says: refused as a zip bomb")
    budget[0] -= len(data)
    return data


def _header_footer_parts(archive: zipfile.ZipFile, part: Callable[[str], bytes]) -> tuple[list[str], list[str]]:
    """The header and footer parts in the order the document's sections name them."""
    rels_path = "word/_rels/document.xml.rels"
    if rels_path not in archive.namelist():
        return [], []
    targets: dict[str, str] = {}

    def relationship(tag: str, attrs: dict[str, str]) -> None:
        if tag == f"{_REL} Relationship" and attrs.get("TargetMode") != "External":
            targets[attrs.get("Id", "")] = posixpath.normpath(posixpath.join("word", attrs.get("Target", "")))

    _parse(part(rels_path), "the relationships", start=relationship)
    order: list[tuple[str, str]] = []

    def reference(tag: str, attrs: dict[str, str]) -> None:
        if tag in (f"{W} headerReference", f"{W} footerReference"):
            order.append((tag.rsplit(" ", 1)[1], attrs.get(f"{_R} id", "")))

    _parse(part(MAIN_PART), "the document", start=reference)
    headers: list[str] = []
    footers: list[str] = []
    for kind, rid in order:
        target = targets.get(rid)
        chosen = headers if kind == "headerReference" else footers
        if target and target in archive.namelist() and target not in chosen:
            chosen.append(target)
    return headers, footers


def _part_text(data: bytes, name: str, limits: Limits) -> str:
    """The text of one part: paragraphs apart, a table's cells one per line, runs' text joined."""
    out: list[str] = []
    depth = [0]
    skip = [0]  # inside deleted text, field codes or a markup-compatibility fallback
    cells = [0]  # open table cells

    def start(tag: str, attrs: dict[str, str]) -> None:
        depth[0] += 1
        if depth[0] > limits.max_nesting:
            raise DoclrpError(f"{name} nests its XML deeper than {limits.max_nesting} elements: refused")
        if skip[0] or tag in _SKIPPED:
            skip[0] += 1
            return
        if tag == f"{W} tab":
            out.append("\t")
        elif tag in (f"{W} br", f"{W} cr"):
            out.append("\n")
        elif tag == f"{W} noBreakHyphen":
            out.append("-")
        elif tag == f"{W} tc":
            cells[0] += 1

    def end(tag: str) -> None:
        depth[0] -= 1
        if skip[0]:
            skip[0] -= 1
            return
        if tag == f"{W} p":
            out.append("\n" if cells[0] else "\n\n")
        elif tag == f"{W} tc":
            cells[0] -= 1
        elif tag == f"{W} tbl":
            out.append("\n\n")

    def text(data: str) -> None:
        if not skip[0] and texts[0]:
            out.append(data)

    texts = [0]  # inside w:t (only its characters are text; whitespace between elements is not)

    def start_text(tag: str, attrs: dict[str, str]) -> None:
        start(tag, attrs)
        if tag == f"{W} t" and not skip[0]:
            texts[0] += 1

    def end_text(tag: str) -> None:
        if tag == f"{W} t" and not skip[0]:
            texts[0] -= 1
        end(tag)

    _parse(data, name, start=start_text, end=end_text, text=text)
    return "".join(out)


#: Elements whose content is not the document's text: deleted revisions, field instructions
#: and the fallback copy of content that markup compatibility gives twice.
_SKIPPED = {f"{W} delText", f"{W} instrText", f"{_MC} Fallback", f"{W} del", f"{W} moveFrom"}


def _parse(data: bytes, name: str, *, start: Callable[[str, dict[str, str]], None] | None = None,
           end: Callable[[str], None] | None = None, text: Callable[[str], None] | None = None) -> None:
    """Stream one part through expat (namespaces resolved, ``"uri local"`` tags); a document
    type declaration, and with it every entity and external resource, is refused."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")

    def refuse(*_: object) -> None:
        raise DoclrpError(f"{name}: XML with a document type declaration (entities) is refused; Word never "
                          "writes one")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    if start is not None:
        parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    if text is not None:
        parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as error:
        raise DoclrpError(f"{name}: malformed XML ({error}): a broken Word file") from None

"""E-mail messages (``.eml``, RFC 5322 with MIME) through the standard library's ``email``:
the subject and the text body; the HTML body (through the HTML reader) when there is no
text part; attachments listed by name, never read.

>>> message = (b"From: ann@example.com\\r\\nSubject: Invoice 42\\r\\nContent-Type: text/plain\\r\\n\\r\\n"
...            b"Please pay by Friday.\\r\\n")
>>> source = read_email(message, "mail.eml", Limits())
>>> source.text, source.attachments
('Invoice 42\\n\\nPlease pay by Friday.', [])
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from doclrp.documents.limits import Deadline, Limits
from doclrp.documents.source import SourceText, join_texts
from doclrp.documents.webpage import html_text
from doclrp.errors import DoclrpError

__all__ = ["read_email", "looks_like_email"]

#: Header names that mark the start of a message (two of them, or one and a ``.eml`` name).
MESSAGE_HEADERS = frozenset({"from", "to", "subject", "date", "message-id", "mime-version", "received",
                             "return-path", "delivered-to", "reply-to", "cc", "x-mailer", "content-type"})


def looks_like_email(head: bytes, suffix: str) -> bool:
    """Whether ``head`` (a file's first bytes) opens with message headers.

    >>> looks_like_email(b"From: a@b.c\\nTo: d@e.f\\n\\nHi", ".txt"), looks_like_email(b"Subject: x\\n\\nHi", ".txt")
    (True, False)
    """
    names = set()
    for line in head.splitlines()[:40]:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            continue  # a folded header's continuation
        key, colon, _ = line.partition(b":")
        if not colon or not key or b" " in key.strip():
            return False
        names.add(key.strip().decode("ascii", "replace").lower())
    known = len(names & MESSAGE_HEADERS)
    return known >= 2 or (known >= 1 and suffix == ".eml")


def read_email(data: bytes, name: str, limits: Limits, deadline: Deadline | None = None) -> SourceText:
    """Subject and body of a message; attachments named in `SourceText.attachments`."""
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
    except (ValueError, TypeError, LookupError, IndexError) as error:
        raise DoclrpError(f"{name} is not a readable e-mail message ({error})") from None
    if not isinstance(message, EmailMessage):  # pragma: no cover - the default policy makes EmailMessages
        raise DoclrpError(f"{name} is not a readable e-mail message")
    try:
        subject = str(message.get("subject", "") or "")
        body = message.get_body(preferencelist=("plain", "html"))
        text = ""
        if body is not None:
            content = body.get_content()
            if isinstance(content, bytes):
                content = content.decode("utf-8", "replace")
            text = html_text(content, name, limits, deadline) if body.get_content_subtype() == "html" else content
        attachments = [part.get_filename() or part.get_content_type() for part in message.iter_attachments()]
    except DoclrpError:
        raise
    except (ValueError, TypeError, LookupError, KeyError, AttributeError, IndexError) as error:
        raise DoclrpError(f"{name} is not a readable e-mail message ({error})") from None
    text = join_texts([subject, text.replace("\r\n", "\n")])
    if not text:
        raise DoclrpError(f"{name} is an e-mail message without a subject or text")
    notes = [f"{len(attachments)} attachment(s) listed, not read"] if attachments else []
    return SourceText(text, kind="email", name=name, attachments=[str(a) for a in attachments], notes=notes)

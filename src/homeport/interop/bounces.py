"""Reading the reports mail servers send back about the newsletter (pure, no I/O): delivery
status notifications (RFC 3464, ``multipart/report; report-type=delivery-status``: a bounce
that came hours after the SMTP server took the mail) and complaint reports (RFC 5965, ARF,
``report-type=feedback-report``: a member pressed "this is spam").

Each mail the provider sends names itself with a reference (``REF``): in its envelope sender
``bounces+REF@domain`` (where a bounce goes) and in its ``Message-ID: <REF@host>`` (which a
complaint quotes). A report is only believed about the mail its reference names, so a report
cannot suppress an address it has no reference for."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser

REF = re.compile(r"\b([0-9a-f]{24}\.[0-9a-f]{10})\b")
"""A reference: the queued mail's id and a MAC the provider made over it."""
BOUNCE = "bounced"
COMPLAINT = "complained"


@dataclass(frozen=True)
class Report:
    kind: str
    """``bounced`` (a permanent failure), ``complained`` (a complaint), or ``""`` (a delay, a
    success notice, a soft failure, anything else: nothing to do)."""
    refs: frozenset[str] = field(default_factory=frozenset)
    """The references the report names (the envelope recipient's, the quoted mail's)."""


def envelope_ref(local_part: str, base: str) -> str | None:
    """The reference in ``base+REF`` (the local part a bounce is addressed to), or None."""
    prefix, plus, ref = local_part.lower().partition("+")
    if not plus or prefix != base.lower():
        return None
    found = REF.fullmatch(ref)
    return found.group(0) if found else None


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a ``message/delivery-status`` or ``message/feedback-report`` part
    (the stdlib parses the first into blocks, the second into one message or text)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        return [HeaderParser().parsestr(block) for block in re.split(r"\r?\n\s*\r?\n", payload)
                if block.strip()]
    return []


def _quoted_refs(report: Message) -> set[str]:
    """References in the quoted original (``message/rfc822`` or ``text/rfc822-headers``):
    its Message-ID and its Return-Path, which carry them."""
    found: set[str] = set()
    for part in report.walk():
        kind = part.get_content_type()
        headers: list[Message] = []
        if kind == "message/rfc822":
            headers = [p for p in (part.get_payload() or []) if isinstance(p, Message)]
        elif kind == "text/rfc822-headers":
            text = part.get_payload(decode=True) or b""
            headers = [HeaderParser().parsestr(bytes(text).decode("utf-8", "replace"))]
        for quoted in headers:
            for name in ("Message-ID", "Return-Path"):
                found.update(REF.findall(str(quoted.get(name) or "").lower()))
    return found


def _dsn_failed(part: Message) -> bool:
    """Whether a delivery-status part reports a permanent failure for some recipient:
    ``Action: failed`` with a 5.x.x status (4.x.x and ``delayed`` will be tried again)."""
    for block in _blocks(part)[1:]:  # the first block is about the message, not a recipient
        action = str(block.get("Action") or "").strip().lower()
        status = str(block.get("Status") or "").strip()
        if action == "failed" and status.startswith("5"):
            return True
    return False


def read(raw: bytes, envelope_refs: frozenset[str] = frozenset()) -> Report:
    """What a report mail says; ``envelope_refs``: the references of the addresses it was
    sent to (``envelope_ref``)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if message.get_content_type() != "multipart/report":
        return Report("")
    report_type = str(message.get_param("report-type") or "").lower()
    refs = frozenset(envelope_refs | _quoted_refs(message))
    for part in message.walk():
        kind = part.get_content_type()
        if report_type == "delivery-status" and kind == "message/delivery-status":
            return Report(BOUNCE if _dsn_failed(part) else "", refs)
        if report_type == "feedback-report" and kind == "message/feedback-report":
            fields = _blocks(part)
            feedback = str(fields[0].get("Feedback-Type") or "") if fields else ""
            # RFC 5965 §7.3: abuse, fraud, virus, other; "not-spam" is no complaint
            return Report(COMPLAINT if feedback.strip().lower() not in ("", "not-spam") else "",
                          refs)
    return Report("")


__all__ = ["BOUNCE", "COMPLAINT", "REF", "Report", "envelope_ref", "read"]

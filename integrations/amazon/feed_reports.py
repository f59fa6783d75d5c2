"""Amazon's feed processing report (an XML ``ProcessingReport``): its summary, and the
``Result`` lines of each message by ``MessageID`` (pure: no ORM, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from defusedxml import ElementTree as SafeET


class MalformedReport(ValueError):
    pass


def concerns(line_message_id: str, message_id: int | str) -> bool:
    """Whether a report line is about this message: its own MessageID, or the whole document's
    (MessageID 0, or none)."""
    return line_message_id in (str(message_id), "0", "")


@dataclass
class ParsedReport:
    processed: int = 0
    successful: int = 0
    with_error: int = 0
    with_warning: int = 0
    results: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "processed": self.processed,
            "successful": self.successful,
            "with_error": self.with_error,
            "with_warning": self.with_warning,
        }

    def for_message(self, message_id: int) -> dict:
        """This message's lines (and those about the whole document, MessageID 0)."""
        mine = [r for r in self.results if concerns(r["message_id"], message_id)]
        errors = any(r["result_code"] == "Error" for r in mine)
        return {
            "message_id": message_id,
            "processed": 1,
            "successful": 0 if errors else 1,
            "with_error": 1 if errors else 0,
            "with_warning": int(any(r["result_code"] == "Warning" for r in mine)),
            "results": mine,
        }


def parse_report(text: str | bytes) -> ParsedReport:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        root = SafeET.fromstring(raw)
    except Exception as exc:  # defusedxml/expat raise several types
        raise MalformedReport(f"the processing report is not XML ({exc})") from exc
    report_el = root.find("Message/ProcessingReport")
    if report_el is None:
        raise MalformedReport("no ProcessingReport in the document")
    summary = report_el.find("ProcessingSummary")

    def number(name: str) -> int:
        value = summary.findtext(name) if summary is not None else None
        try:
            return int(value or 0)
        except ValueError:
            return 0

    report = ParsedReport(
        processed=number("MessagesProcessed"),
        successful=number("MessagesSuccessful"),
        with_error=number("MessagesWithError"),
        with_warning=number("MessagesWithWarning"),
    )
    for r in report_el.findall("Result"):
        report.results.append(
            {
                "message_id": (r.findtext("MessageID") or "").strip(),
                "result_code": (r.findtext("ResultCode") or "").strip(),
                "message_code": (r.findtext("ResultMessageCode") or "").strip(),
                "description": (r.findtext("ResultDescription") or "").strip(),
            }
        )
    return report

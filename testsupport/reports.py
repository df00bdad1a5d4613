"""Test support for the report tests: a stand-in for the little of pytest.Config the result
collector reads, test reports made by hand, and a parser for a page's visible text.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest


class ControllerConfig:
    """The little of pytest.Config the collector reads, for a controller writing into `report`."""

    def __init__(self, report: Path) -> None:
        self.options = {"--rig-report": str(report), "--rig-run-id": None, "--rig-sim": True}
        self.stash = pytest.Stash()

    def getoption(self, name: str) -> object:
        """An option's value (None when not given)."""
        return self.options.get(name)

    def getini(self, name: str) -> object:
        """No ini file."""
        return None


def report_of(
    nodeid: str, when: str, outcome: str, props: list[tuple[str, object]], longrepr: object = None
) -> pytest.TestReport:
    """A test report as pytest (or an xdist worker) hands it to the controller."""
    return pytest.TestReport(nodeid, ("f.py", 1, "t"), {}, outcome, longrepr, when, user_properties=props)  # type: ignore[arg-type]


class Text(HTMLParser):
    """The visible text of a page (no attributes, no style), and the order of the elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.ids: list[str] = []
        self.by_id: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        if ident:
            self.ids.append(ident)
            self.by_id.setdefault(ident, [])
        if tag not in ("br", "meta", "img", "input", "link"):
            self._open.append((tag, ident))
        self._style = tag in ("style", "script", "title")

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break
        self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            return
        self.chunks.append(data)
        for _tag, ident in self._open:
            if ident:
                self.by_id[ident].append(data)

    def of(self, ident: str) -> str:
        """The visible text inside the element with this id."""
        return " ".join("".join(self.by_id.get(ident, [])).split())


def text_of(page: str) -> Text:
    """A page parsed for its visible text."""
    parser = Text()
    parser.feed(page)
    return parser

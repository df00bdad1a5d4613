"""Every section citation in the project resolves to a heading of the in-repository docs.

The code cites protocol and library facts by section: a section sign and a number such as 1.7,
6.5 or 6c. The sections live in docs/protocols.md (Particle's formats, protocols and device
behaviour) and docs/python-stack.md (library facts). Which document a citation means:

- the word right before the sign: "python-stack" / "python-stack.md" -> docs/python-stack.md;
  "protocols", "particle-protocols", "particle-protocols.md" -> docs/protocols.md; "USB 2.0" -> the
  USB specification (not checked here);
- no such word: the document of the nearest prefixed citation earlier in the same sentence
  ("python-stack 1, 5" means both), otherwise docs/protocols.md; inside docs/python-stack.md a bare
  citation means that document itself.

A range ("3-5" written with an en dash, "7.1-7.4") stands for every section in it. A citation
resolves when the target document has a Markdown heading containing the section sign and that
exact number as its own (the first section number in the heading; a section mentioned later in a
heading does not count).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SIGN = "\u00a7"
EN_DASH = "\u2013"
PROTOCOLS = "protocols"
PYTHON_STACK = "python-stack"
USB_SPEC = "usb"
TARGETS = {PROTOCOLS: DOCS / "protocols.md", PYTHON_STACK: DOCS / "python-stack.md"}

SCANNED_DIRS = ("rig", "testsupport", "tests_unit", "tests_hil", "bench")
SCANNED_FILES = ("README.md", "pyproject.toml", "tox.ini", "conftest.py")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".ini", ".cfg", ".txt", ".yaml", ".yml"}

NUMBER = r"\d+(?:\.\d+)*[a-z]?"
SECTION = re.compile(rf"{SIGN}({NUMBER})")
CITATION = re.compile(rf"{SIGN}({NUMBER})(?:(?:{EN_DASH}{SIGN}?|-{SIGN})({NUMBER}))?")
PREFIXES = (
    (re.compile(r"python-stack(?:\.md)?\s*$"), PYTHON_STACK),
    (re.compile(r"protocols(?:\.md)?\s*$"), PROTOCOLS),
    (re.compile(r"USB 2\.0\s*$"), USB_SPEC),
)
# Where a sentence ends: a full stop before white space, a blank line, a table cell border.
SENTENCE_END = re.compile(r"[.!?](?=\s)|\n[ \t]*#?[ \t]*\n|\|")
HEADING = re.compile(r"^#{1,6}\s")
FENCE = re.compile(r"^\s*(```|~~~)")


class Citation(NamedTuple):
    """One cited section: where it is cited, which document it means, the section number."""

    path: Path
    line: int
    doc: str
    section: str

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def expand(first: str, last: str | None) -> list[str]:
    """The sections of a range; a single section when there is no range."""
    if last is None:
        return [first]
    head_a, _, tail_a = first.rpartition(".")
    head_b, _, tail_b = last.rpartition(".")
    a = re.fullmatch(r"(\d+)([a-z]?)", tail_a)
    b = re.fullmatch(r"(\d+)([a-z]?)", tail_b)
    if head_a != head_b or a is None or b is None:
        return [first, last]
    prefix = f"{head_a}." if head_a else ""
    if a[2] and b[2] and a[1] == b[1]:  # 6a-6c
        return [f"{prefix}{a[1]}{chr(c)}" for c in range(ord(a[2]), ord(b[2]) + 1)]
    if not a[2] and not b[2] and int(a[1]) <= int(b[1]):  # 3-5, 7.1-7.4
        return [f"{prefix}{n}" for n in range(int(a[1]), int(b[1]) + 1)]
    return [first, last]


def citations_in(text: str, path: Path, default: str) -> list[Citation]:
    """Every cited section of one file, with the document it refers to."""
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    explicit: list[tuple[int, str]] = []  # (position, document) of prefixed citations
    found = []
    for m in CITATION.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()]
        doc = next((d for rx, d in PREFIXES if rx.search(before)), None)
        if doc is None:
            sentence_start = max((e for e in ends if e <= m.start()), default=0)
            earlier = [d for pos, d in explicit if pos >= sentence_start]
            doc = earlier[-1] if earlier else default
        else:
            explicit.append((m.start(), doc))
        line = text.count("\n", 0, m.start()) + 1
        found += [Citation(path, line, doc, s) for s in expand(m[1], m[2])]
    return found


def scanned_files() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    for top in SCANNED_DIRS:
        files += [
            p
            for p in (ROOT / top).rglob("*")
            if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts
        ]
    files += DOCS.glob("*.md")
    return sorted(set(files))


def all_citations() -> list[Citation]:
    found = []
    for path in scanned_files():
        default = PYTHON_STACK if path == TARGETS[PYTHON_STACK] else PROTOCOLS
        found += citations_in(path.read_text(encoding="utf-8"), path, default)
    return found


def heading_sections(text: str) -> set[str]:
    """The section number of each Markdown heading that has one (fenced code blocks excluded)."""
    sections: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and HEADING.match(line):
            found = SECTION.search(line)
            if found:
                sections.add(found[1])
    return sections


def unresolved(citations: list[Citation], doc: str, headings: set[str]) -> list[str]:
    return [f"{c.where()}: {SIGN}{c.section}" for c in citations if c.doc == doc and c.section not in headings]


def test_the_scan_finds_the_citations():
    cited = all_citations()
    docs = {c.doc for c in cited}
    assert len(cited) > 150, "the citation pattern no longer matches the code's citations"
    assert {PROTOCOLS, PYTHON_STACK, USB_SPEC} <= docs


@pytest.mark.parametrize("doc", sorted(TARGETS))
def test_every_citation_has_a_heading(doc):
    target = TARGETS[doc]
    assert target.is_file(), f"{target.relative_to(ROOT)} is missing"
    missing = unresolved(all_citations(), doc, heading_sections(target.read_text(encoding="utf-8")))
    assert not missing, f"no heading in {target.relative_to(ROOT)} for:\n" + "\n".join(missing)


def test_prefixes_sentences_and_ranges():
    s = SIGN
    text = (
        f"A (python-stack {s}1, {s}5) and {s}6c; then {s}2.3.\n"
        f"B (USB 2.0 {s}5.5.3): at most\n# per frame ({s}5.5.4). Next {s}4.3 and protocols {s}3.3{EN_DASH}{s}3.5.\n"
        f"C python-stack.md {s}6a{EN_DASH}{s}6c, particle-protocols.md {s}7.1{EN_DASH}7.3 | {s}9\n"
    )
    got = [(c.line, c.doc, c.section) for c in citations_in(text, ROOT / "x.py", PROTOCOLS)]
    assert got == [
        (1, PYTHON_STACK, "1"),
        (1, PYTHON_STACK, "5"),
        (1, PYTHON_STACK, "6c"),
        (1, PYTHON_STACK, "2.3"),
        (2, USB_SPEC, "5.5.3"),
        (3, USB_SPEC, "5.5.4"),
        (3, PROTOCOLS, "4.3"),
        (3, PROTOCOLS, "3.3"),
        (3, PROTOCOLS, "3.4"),
        (3, PROTOCOLS, "3.5"),
        (4, PYTHON_STACK, "6a"),
        (4, PYTHON_STACK, "6b"),
        (4, PYTHON_STACK, "6c"),
        (4, PROTOCOLS, "7.1"),
        (4, PROTOCOLS, "7.2"),
        (4, PROTOCOLS, "7.3"),
        (4, PROTOCOLS, "9"),
    ]


def test_a_missing_heading_is_reported():
    s = SIGN
    doc = f"# Notes\n## {s}1 Format\n### {s}1.7 Flags (see {s}1.9)\n```\n# {s}1.8 in a code block\n```\n"
    assert heading_sections(doc) == {"1", "1.7"}
    cited = citations_in(f"x ({s}1.7) y ({s}1.8) z ({s}1.70)", ROOT / "x.py", PROTOCOLS)
    assert unresolved(cited, PROTOCOLS, heading_sections(doc)) == [f"x.py:1: {s}1.8", f"x.py:1: {s}1.70"]

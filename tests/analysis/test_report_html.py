"""report.html is one self-contained file: images embedded, nothing external, a contents list."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id":
                self.ids.add(value)
            if name in ("src", "href", "srcset", "poster", "data", "action", "background"):
                self.references.append((tag, name, value or ""))


def test_the_report_references_no_file_or_url_and_embeds_every_figure(small_run):
    result, out, _ = small_run
    text = (out / "report.html").read_text(encoding="utf-8")
    parser = _References()
    parser.feed(text)
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    images = [value for tag, _, value in parser.references if tag == "img"]
    assert len(images) == len(result.figures) > 0
    assert all(value.startswith("data:image/png;base64,") for value in images)
    links = [value for tag, _, value in parser.references if tag == "a"]
    assert links and all(value.startswith("#") for value in links)  # the contents only
    assert {value[1:] for value in links} <= parser.ids  # every entry leads somewhere
    assert not re.search(r"url\(|@import|https?://", text)


def test_the_report_has_contents_and_prints_cleanly(small_run):
    result, out, _ = small_run
    text = (out / "report.html").read_text(encoding="utf-8")
    contents = text[text.index('<nav class="toc">') : text.index("</nav>")]
    for name, table in result.tables.items():
        assert f'href="#table-{name}"' in contents
        assert table.title in contents
    assert "@media print" in text and "break-inside: avoid" in text

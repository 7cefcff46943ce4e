"""Reading HTML as a browser's parser would, for the escaping checks (player, DataFrame display, reports)."""

from __future__ import annotations

from html.parser import HTMLParser


class Parsed(HTMLParser):
    """Tags, attributes and text of an HTML fragment, as a browser's parser would see them (the contents of
    ``<style>`` are not text)."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []
        self._in_style = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if not self._in_style:
            self.text.append(data)

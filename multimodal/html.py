"""Landing-page HTML → visible text and title, with a real HTML5 parser (selectolax/Lexbor)."""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

INVISIBLE = ("script", "style", "noscript", "template", "svg", "head")


@dataclass(frozen=True)
class ParsedPage:
    title: str
    text: str


def parse_html(html: str) -> ParsedPage:
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node else ""
    tree.strip_tags(list(INVISIBLE))
    body = tree.body
    text = body.text(separator=" ", strip=True) if body else ""
    return ParsedPage(title=title, text=text)

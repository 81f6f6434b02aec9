"""Bound the HTML5 tree builder's worst cases before a document reaches Lexbor.

Spec-conformant tree construction is super-linear on some inputs, and Lexbor is no exception:
  * block start tags walk the stack of open elements, so `"<div>" * 100_000` (500 KB) takes ~20 s;
  * formatting elements popped by a block end tag stay in the list of active formatting elements and
    are re-created before every later token, so `"<p><b id=N></p>"` repeated 4,000 times (70 KB)
    makes 8 million nodes and ~3 GB.

`bounded_prefix` is a linear pre-scan of the tag tokens (names only, counted, never extracted) that
upper-bounds both kinds of work: it tracks an estimate of the open-element depth and of the open
formatting elements, per tag name, and charges every token for them. When a document would exceed a
budget it returns the longest prefix that stays within it, and the caller parses only that prefix
and reports it. Contents of raw-text elements (script, style, textarea, title, ...) and comments are
skipped, but only up to a fixed number of `<` characters in all, so markup cannot hide a bomb from
the scan by opening a fake comment or script inside an attribute value. Every field the page
analysis reports still comes from Lexbor's parse of the (possibly shortened) document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Elements with no end tag: they never deepen the stack.
VOID = frozenset(
    b"area base basefont bgsound br col embed frame hr img input keygen link meta param source track wbr".split()
)
# Elements the tree builder closes implicitly (a new <p>, <li>, <td> ... ends the previous one), and
# the document skeleton: counting them would charge ordinary sloppy markup for depth it never has.
IMPLIED = frozenset(
    b"p li dd dt option optgroup tr td th tbody thead tfoot caption colgroup rb rt rp rtc html head body".split()
)
# Formatting elements that can be re-created ("reconstruct the active formatting elements").
# <a> is left out: a new <a> always removes the previous one from the list.
FORMATTING = frozenset(b"b big code em font i nobr s small strike strong tt u".split())
# Elements whose content the tokenizer reads as text up to the matching end tag.
RAW_TEXT = frozenset(b"script style textarea title xmp noembed noframes iframe".split())

TOKEN = re.compile(rb"<(?:(!--)|(/?)([A-Za-z][^\t\n\f\r />]{0,63}))")

WALK_BUDGET = 50_000_000  # stack-entry visits (~0.1-0.7 s of Lexbor time in the slowest patterns)
FORMATTING_BUDGET = 2_000_000  # potential re-created nodes (~0.2 s, ~200 MB in the worst pattern)
MAX_START_TAGS = 400_000  # ~150 MB of Lexbor nodes; a real 5 MiB page has far fewer tags
MASKED_LT_BUDGET = 20_000  # '<' characters that raw-text and comment skipping may hide in all


@dataclass(frozen=True)
class ParseBudget:
    end: int  # parse data[:end]
    limited: bool  # the document was cut short
    reason: str  # why it was cut: nesting, formatting, tags; "" when whole
    start_tags: int  # start tags counted up to `end`


def bounded_prefix(
    data: bytes,
    walk_budget: int = WALK_BUDGET,
    formatting_budget: int = FORMATTING_BUDGET,
    max_start_tags: int = MAX_START_TAGS,
) -> ParseBudget:
    """The longest prefix of `data` whose estimated tree-construction work stays within budget."""
    lower = data.lower()
    open_count: dict[bytes, int] = {}
    depth = formatting_open = start_tags = 0
    walk = formatting = 0
    masked_lt = 0
    pos = 0
    while True:
        skip_to = -1
        for match in TOKEN.finditer(lower, pos):
            if match.group(1):  # comment: skip to its end
                close = lower.find(b"-->", match.end())
                skip_to = len(data) if close < 0 else close + 3
                hidden = data.count(b"<", match.end(), skip_to)
                if masked_lt + hidden <= MASKED_LT_BUDGET:
                    masked_lt += hidden
                    break
                skip_to = -1
                continue
            name = match.group(3)
            walk += depth
            if match.group(2):  # end tag
                if open_count.get(name, 0) > 0:
                    open_count[name] -= 1
                    depth -= 1
                    if name in FORMATTING:
                        formatting_open -= 1
                continue
            start_tags += 1
            formatting += 2 * formatting_open  # this token and the text run after it
            if walk > walk_budget or formatting > formatting_budget or start_tags > max_start_tags:
                reason = "nesting" if walk > walk_budget else "formatting" if formatting > formatting_budget else "tags"
                return ParseBudget(end=match.start(), limited=True, reason=reason, start_tags=start_tags - 1)
            if name in RAW_TEXT:
                close = lower.find(b"</" + name, match.end())
                skip_to = len(data) if close < 0 else close
                hidden = data.count(b"<", match.end(), skip_to)
                if masked_lt + hidden <= MASKED_LT_BUDGET:
                    masked_lt += hidden
                    break
                skip_to = -1
            if name in VOID or name in IMPLIED:
                continue
            open_count[name] = open_count.get(name, 0) + 1
            depth += 1
            if name in FORMATTING:
                formatting_open += 1
        if skip_to < 0 or skip_to >= len(data):
            return ParseBudget(end=len(data), limited=False, reason="", start_tags=start_tags)
        pos = skip_to

"""Tokenizer for SRE pattern and declarations files (positions are 1-based line and column)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from wayeb_py.patterns.errors import PatternSyntaxError

NUMBER = "number"  # must contain a decimal point, e.g. 5.0, -4.4753, .5
INT = "int"  # only valid inside annotations such as {order:2}
IDENT = "identifier"
STRING = "string"
PUNCT = "punctuation"
EOF = "end of input"

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>-?(?:\d+\.\d*|\.\d+))
  | (?P<int>\d+)
  | (?P<identifier>[A-Za-z_]\w*)
  | (?P<string>"[^"\n]*")
  | (?P<punctuation>[;+*!\#@^|\-(),{}:\[\]&~])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    """One lexeme with the position of its first character."""

    kind: str
    text: str
    line: int
    column: int

    def describe(self) -> str:
        """How to mention the token in an error message."""
        return EOF if self.kind == EOF else repr(self.text)


def tokenize(text: str, source: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token; raise on characters outside the grammar."""
    tokens: list[Token] = []
    line, line_start, position = 1, 0, 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        column = position - line_start + 1
        if match is None:
            raise PatternSyntaxError(source, line, column, f"unexpected character {text[position]!r}")
        kind = match.lastgroup or ""
        lexeme = match.group()
        if kind != "space":
            tokens.append(Token(kind, lexeme, line, column))
        newlines = lexeme.count("\n")
        if newlines:
            line += newlines
            line_start = position + lexeme.rindex("\n") + 1
        position = match.end()
    tokens.append(Token(EOF, "", line, position - line_start + 1))
    return tokens

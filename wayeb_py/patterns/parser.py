"""Recursive-descent parser for the SRE subset used by the forecasting patterns, and for declarations.

Pattern grammar (prefix notation, whitespace ignored)::

    pattern   := formula [ "{order:" INT "}" ] [ "{partitionBy:" NAME "}" ] [ "{window:" INT "}" ]
                 [ "{windowType:" ("count"|"time") "}" ]              -- annotations in this order
    formula   := ";(" formula ("," formula)+ ")"                    -- sequence
               | "+(" formula ("," formula)+ ")"                    -- choice
               | "*(" formula ")"                                   -- Kleene star
               | sentence
    sentence  := "^(" sentence ("," sentence)* ")" | "|(" sentence ("," sentence)* ")" | "-" sentence | atomic
    atomic    := NAME [ "(" term ("," term)* ")" ]                  -- a known predicate
    term      := NUMBER (with a decimal point) | NAME

Declarations: ``decl ("," decl)*`` with ``decl := "~(" atomic ("," atomic)* ")"`` (mutually exclusive
predicates) or ``"+(" atomic ("," atomic)* ")"`` (extra predicates that refine the minterms).
Complement ``!``, selection strategies ``#``/``@``, registers ``[x]`` and several patterns joined by ``&`` are
recognised and rejected with an explicit message.
"""

from __future__ import annotations

from dataclasses import dataclass

from wayeb_py.automata.regex import Lit, Regex, Star, concat, union
from wayeb_py.patterns.errors import PatternSyntaxError
from wayeb_py.patterns.lexer import EOF, IDENT, INT, NUMBER, PUNCT, STRING, Token, tokenize
from wayeb_py.patterns.predicates import Arg, Predicate, make_predicate
from wayeb_py.patterns.sentences import And, Atom, Not, Or, Sentence

_ANNOTATIONS = ("order", "partitionBy", "window", "windowType")
_UNSUPPORTED_OPERATORS = {
    "!": "the complement operator '!' is not supported",
    "#": "selection strategies ('#', skip-till-any) are not supported by SPST patterns",
    "@": "selection strategies ('@', skip-till-next) are not supported by SPST patterns",
}


@dataclass(frozen=True)
class ParsedPattern:
    """A parsed pattern: the formula (guards are :class:`Sentence` objects) and its annotations."""

    formula: Regex
    order: int | None
    partition_by: str | None
    window: int | None
    window_type: str | None


@dataclass(frozen=True)
class Declarations:
    """Exclusive predicate sets (``~``) and extra predicates (``+``), in file order."""

    exclusives: tuple[frozenset[Predicate], ...] = ()
    extras: tuple[Predicate, ...] = ()


def parse_pattern(text: str, source: str = "<pattern>") -> ParsedPattern:
    """Parse one pattern with its annotations; raise :class:`PatternSyntaxError` on any error."""
    return _Parser(text, source).pattern()


def parse_declarations(text: str, source: str = "<declarations>") -> Declarations:
    """Parse a declarations text (may be empty); raise :class:`PatternSyntaxError` on any error."""
    return _Parser(text, source).declarations()


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.tokens = tokenize(text, source)
        self.position = 0

    # -- token helpers -------------------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != EOF:
            self.position += 1
        return token

    def at(self, punct: str) -> bool:
        token = self.peek()
        return token.kind == PUNCT and token.text == punct

    def error(self, token: Token, message: str) -> PatternSyntaxError:
        return PatternSyntaxError(self.source, token.line, token.column, message)

    def expected(self, what: str) -> PatternSyntaxError:
        token = self.peek()
        return self.error(token, f"expected {what}, found {token.describe()}")

    def expect(self, punct: str, what: str | None = None) -> Token:
        if not self.at(punct):
            raise self.expected(what or repr(punct))
        return self.advance()

    # -- patterns ------------------------------------------------------------------------------------------

    def pattern(self) -> ParsedPattern:
        if self.peek().kind == EOF:
            raise self.expected("a pattern formula")
        formula = self.formula()
        values: dict[str, int | str] = {}
        last = -1
        while self.at("{"):
            self.advance()
            key_token = self.peek()
            if key_token.kind != IDENT or key_token.text not in _ANNOTATIONS:
                raise self.expected("an annotation name (order, partitionBy, window or windowType)")
            index = _ANNOTATIONS.index(key_token.text)
            if index <= last:
                raise self.error(
                    key_token,
                    f"annotation {key_token.text!r} out of place: annotations must appear at most once, "
                    "in the order order, partitionBy, window, windowType",
                )
            last = index
            self.advance()
            self.expect(":")
            values[key_token.text] = self.annotation_value(key_token.text)
            self.expect("}")
        if self.at("&"):
            raise self.error(self.peek(), "several patterns in one file ('&') are not supported")
        if self.peek().kind != EOF:
            raise self.expected("an annotation '{...}' or the end of the pattern")
        return ParsedPattern(
            formula=formula,
            order=_opt_int(values.get("order")),
            partition_by=_opt_str(values.get("partitionBy")),
            window=_opt_int(values.get("window")),
            window_type=_opt_str(values.get("windowType")),
        )

    def annotation_value(self, key: str) -> int | str:
        token = self.peek()
        if key in ("order", "window"):
            if token.kind != INT:
                raise self.expected(f"a non-negative integer for {key}")
            self.advance()
            return int(token.text)
        if key == "partitionBy":
            if token.kind != IDENT:
                raise self.expected("an attribute name for partitionBy")
            self.advance()
            return token.text
        if token.kind != IDENT or token.text not in ("count", "time"):
            raise self.expected("'count' or 'time' for windowType")
        self.advance()
        return token.text

    def formula(self) -> Regex:
        token = self.peek()
        if token.kind == PUNCT and token.text in (";", "+"):
            self.advance()
            self.expect("(", f"'(' after {token.text!r}")
            items = [self.formula()]
            while self.at(","):
                self.advance()
                items.append(self.formula())
            if not self.at(")"):
                raise self.expected("',' or ')'")
            if len(items) < 2:
                kind = "sequence" if token.text == ";" else "choice"
                raise self.expected(f"',' (a {kind} needs at least two operands)")
            self.advance()
            return concat(items) if token.text == ";" else union(items)
        if token.kind == PUNCT and token.text == "*":
            self.advance()
            self.expect("(", "'(' after '*'")
            inner = self.formula()
            self.expect(")", "')' (a Kleene star takes one operand)")
            return Star(inner)
        if token.kind == PUNCT and token.text in _UNSUPPORTED_OPERATORS:
            raise self.error(token, _UNSUPPORTED_OPERATORS[token.text])
        sentence = self.sentence("a formula (';(', '+(', '*(' or a sentence)")
        if self.at("["):
            raise self.error(self.peek(), "register variables ('[...]') are not supported")
        return Lit(sentence)

    # -- sentences -----------------------------------------------------------------------------------------

    def sentence(self, what: str = "a sentence (predicate, '^(', '|(' or '-')") -> Sentence:
        token = self.peek()
        if token.kind == PUNCT and token.text in ("^", "|"):
            self.advance()
            self.expect("(", f"'(' after {token.text!r}")
            operands = [self.sentence()]
            while self.at(","):
                self.advance()
                operands.append(self.sentence())
            self.expect(")", "',' or ')'")
            return And(tuple(operands)) if token.text == "^" else Or(tuple(operands))
        if token.kind == PUNCT and token.text == "-":
            self.advance()
            return Not(self.sentence())
        if token.kind == IDENT:
            return Atom(self.atomic())
        raise self.expected(what)

    def atomic(self) -> Predicate:
        name = self.peek()
        if name.kind != IDENT:
            raise self.expected("a predicate name")
        self.advance()
        args: list[Arg] = []
        if self.at("("):
            self.advance()
            args.append(self.term())
            while self.at(","):
                self.advance()
                args.append(self.term())
            self.expect(")", "',' or ')' in the argument list")
        try:
            return make_predicate(name.text, args)
        except (LookupError, ValueError) as exc:
            raise self.error(name, str(exc.args[0])) from None

    def term(self) -> Arg:
        token = self.peek()
        if token.kind == NUMBER:
            self.advance()
            return float(token.text)
        if token.kind == IDENT:
            self.advance()
            return token.text
        if token.kind == INT:
            raise self.error(token, f"numbers must contain a decimal point (write {token.text}.0)")
        if token.kind == STRING:
            raise self.error(token, "register variables are not supported as predicate arguments")
        raise self.expected("a predicate argument (a number such as 5.0, or a name)")

    # -- declarations --------------------------------------------------------------------------------------

    def declarations(self) -> Declarations:
        exclusives: list[frozenset[Predicate]] = []
        extras: list[Predicate] = []
        if self.peek().kind == EOF:
            return Declarations()
        while True:
            token = self.peek()
            if not (token.kind == PUNCT and token.text in ("~", "+")):
                raise self.expected("a declaration '~(...)' (exclusive predicates) or '+(...)' (extras)")
            self.advance()
            self.expect("(", f"'(' after {token.text!r}")
            group = [self.atomic()]
            while self.at(","):
                self.advance()
                group.append(self.atomic())
            self.expect(")", "',' or ')'")
            if token.text == "~":
                exclusives.append(frozenset(group))
            else:
                extras.extend(group)
            if not self.at(","):
                break
            self.advance()
        if self.peek().kind != EOF:
            raise self.expected("',' or the end of the declarations")
        return Declarations(exclusives=tuple(exclusives), extras=tuple(extras))


def _opt_int(value: int | str | None) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: int | str | None) -> str | None:
    return None if value is None else str(value)

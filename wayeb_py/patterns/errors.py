"""Exceptions raised while reading patterns and while evaluating predicates on events."""

from __future__ import annotations


class PatternSyntaxError(ValueError):
    """A pattern or declarations text that cannot be compiled.

    The message always starts with ``source:line:column:`` so that editors and CI logs can jump to the spot,
    and then says what was expected (or what is wrong with the construct found there).
    """

    def __init__(self, source: str, line: int, column: int, message: str) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.detail = message
        super().__init__(f"{source}:{line}:{column}: {message}")

    def __reduce__(self) -> tuple[type[PatternSyntaxError], tuple[str, int, int, str]]:
        return (PatternSyntaxError, (self.source, self.line, self.column, self.detail))


class MissingAttributeError(KeyError):
    """A predicate needs an event attribute that the event (or frame column set) does not have."""

    def __init__(self, attribute: str, predicate: str) -> None:
        self.attribute = attribute
        self.predicate = predicate
        super().__init__(attribute)

    def __str__(self) -> str:
        return f"event has no attribute {self.attribute!r} (needed by {self.predicate})"

    def __reduce__(self) -> tuple[type[MissingAttributeError], tuple[str, str]]:
        return (MissingAttributeError, (self.attribute, self.predicate))


class UnmatchedEventError(ValueError):
    """An event satisfies no minterm: it violates the exclusives declared for the pattern.

    Wayeb would crash with an index error here; we raise this instead, naming the sentences that were true.
    """

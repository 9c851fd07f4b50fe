"""Event → symbol mapping; the implementation lives in :mod:`wayeb_py.patterns.symbolizer`."""

from wayeb_py.patterns.symbolizer import Symbolizer

__all__ = ["Symbolizer"]

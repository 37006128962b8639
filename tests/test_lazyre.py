"""pipefile.lazyre: a pattern compiled on its first use behaves as `re.compile`'s (start-up:
the modules of a no-op run no longer compile dozens of patterns it never uses)."""

from __future__ import annotations

import re

from pipefile import lazyre


def test_a_lazy_pattern_is_compiled_on_first_use_and_answers_as_re_does():
    p = lazyre.Pattern(r"(a+)(b)?", re.I)
    assert "_source" in vars(p) and "match" not in vars(p)  # nothing compiled yet
    real = re.compile(r"(a+)(b)?", re.I)
    for text in ("aab", "AAx", "x", ""):
        assert bool(p.match(text)) == bool(real.match(text))
        assert repr(p.fullmatch(text)) == repr(real.fullmatch(text))
        assert p.sub("-", text) == real.sub("-", text)
        assert [m.span() for m in p.finditer(text)] == [m.span() for m in real.finditer(text)]
    assert p.pattern == real.pattern and p.flags == real.flags and "match" in vars(p)

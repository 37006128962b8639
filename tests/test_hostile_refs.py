"""Numbers from the command line and the Pipefile past what anything stores (attack review of
issue 13, finding 10): a job id, `last~N` or an artifact version too large for SQLite, digits
that are not ASCII, and durations of millions of years are exit 2 with a message, never 70."""

from __future__ import annotations

import pytest

HUGE = "9" * 23

PIPEFILE = """
version: 1
steps:
  a:
    command: echo x > ${{outputs.o}}
    outputs: {o: {path: o.txt, name: model}}
"""


@pytest.fixture
def ran(repo):
    repo.pipefile(PIPEFILE)
    assert repo.outcomes() == {"a": "ran"}
    return repo


@pytest.mark.parametrize(
    "args, words",
    [
        (("jobs", "show", HUGE), f"no job '{HUGE}'"),
        (("jobs", "show", "9223372036854775808"), "no job '9223372036854775808'"),
        (("jobs", "show", "last~" + HUGE), "there is no such job yet"),
        (("jobs", "show", "last~\u00b2"), "'last~\u00b2' is not a job"),
        (("jobs", "show", "\u00b2"), "no job '\u00b2'"),
        (("logs", HUGE), f"no job '{HUGE}'"),
        (("metrics", "show", HUGE, "last~" + HUGE), f"no job '{HUGE}'"),
        (("metrics", "diff", "last", "last~" + HUGE), "there is no such job yet"),
        (("params", "diff", HUGE, "last"), f"no job '{HUGE}'"),
        (("clone", HUGE), f"no job '{HUGE}'"),
        (("artifacts", "show", "model:" + HUGE), f"artifact 'model' has no version {HUGE}"),
        (("artifacts", "get", "model:" + HUGE, "-o", "x"), f"artifact 'model' has no version {HUGE}"),
        (("artifacts", "show", "model:\u00b2"), "the version must be a number from 1 up"),
        (("lineage", "model:" + HUGE), f"artifact 'model' has no version {HUGE}"),
    ],
)
def test_huge_or_odd_numbers_name_nothing(ran, args, words):
    r = ran.pipe(*args)
    assert r.code == 2, str(r)
    assert words in r.err and "internal error" not in r.err, str(r)


def test_an_artifact_version_too_long_in_the_pipefile_is_located(ran):
    for version in (HUGE, "9" * 5000):
        ran.pipefile(
            PIPEFILE
            + f"""
  b:
    command: cat ${{{{inputs.m}}}} > ${{{{outputs.o}}}}
    inputs: {{m: "${{{{artifacts.model:{version}}}}}"}}
    outputs: {{o: b.txt}}
"""
        )
        r = ran.pipe("run")
        assert r.code == 2, str(r)
        assert "Pipefile:10:" in r.err and "internal error" not in r.err, str(r)


@pytest.mark.parametrize("flag", ["99999999999d", "36526d", "9" * 400 + "s", "5300w"])
def test_durations_past_100_years_are_refused(repo, flag):
    repo.pipefile(PIPEFILE)
    r = repo.pipe("token", "create", "--expires", flag)
    assert r.code == 2 and "--expires" in r.err and "more than 100 years" in r.err, str(r)
    r = repo.pipe("gc", "--uploads-older-than", flag, "--dry-run")
    assert r.code == 2 and "more than 100 years" in r.err, str(r)


def test_durations_up_to_100_years_still_work(repo):
    repo.pipefile(PIPEFILE)
    r = repo.pipe("token", "create", "--expires", "36525d", "--json")
    assert r.code == 0, str(r)

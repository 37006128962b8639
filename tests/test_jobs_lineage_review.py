"""Review of jobs, lineage, metrics and the Pipefile loader's leftovers, as a demanding user
meets them: options given twice, odd -f arguments, outputs declared where pipe keeps its own
things. Real processes and files throughout."""

from __future__ import annotations

from workspace_repo import Repo


def test_invoke_says_a_param_given_twice_is_the_last_one(repo: Repo):
    # `pipe run -p a=1 -p a=2` warns that the second replaces the first; `pipe invoke` sent the
    # last one without a word. Said before the server is asked (none listens here).
    r = repo.pipe("invoke", "score", "-p", "a=1", "-p", "a=2", "--url", "http://127.0.0.1:9", "--token", "t")
    assert r.code == 2 and "internal error" not in r.err, str(r)
    assert "warning: -p a=2 replaces -p a=1 given before it: the last given is used" in r.err, r.err
    r = repo.pipe("invoke", "score", "-p", "a=1", "-p", "a=1.0", "--url", "http://127.0.0.1:9", "--token", "t")
    assert "replaces" not in r.err, r.err  # (one value written two ways)

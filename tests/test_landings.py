"""Landings.check, in process: the usual case (no link on an output's way) is answered by
`landing.lands_plainly` in string work and a few lstats; whatever links a step makes during
the run, the check must refuse exactly what working out where the output lands (every link
resolved, `landing` + `forbidden_landing`) refuses."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipefile.landing import forbidden_landing, landing
from pipefile.staging import Landings, StepFailure

# (.pipe/e.txt: refused wherever it lands; validate refuses it before a run, the check too)
OUTPUTS = ["out.txt", "build/a.txt", "build/deep/b.txt", "data/c.txt", ".pipe/nested/s/d.txt", ".pipe/e.txt"]
FOLDERS = ["build", "build/deep", "data", ".pipe/nested", ".pipe/nested/s"]
# Where a link made during the run may point (relative to a temporary folder holding the
# workspace `ws/` and a folder beside it `elsewhere/`).
TARGETS = ["ws/elsewhere-inside", "ws/.pipe", "ws/.pipe/store", "elsewhere", "missing", "ws", "ws/build", "ws/data"]


def _refused_by_resolving(root: str, rel: str, planned: dict, store: str) -> bool:
    """The check without its shortcut: every link on the way resolved."""
    root_real = os.path.realpath(root)
    now = landing(root, rel, {"": root_real})
    why = forbidden_landing(root, rel, now, [os.path.realpath(store)], root_real)
    return why is not None or (planned.get(rel) is not None and now != planned[rel])


def _make_workspace(tmp: str) -> str:
    root = os.path.join(tmp, "ws")
    for folder in ["build/deep", "data", ".pipe/store", ".pipe/nested/s", "elsewhere-inside"]:
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    os.makedirs(os.path.join(tmp, "elsewhere"), exist_ok=True)
    return root


def _replace_with_link(path: str, target: str) -> None:
    """A link at `path` to `target` (nothing, where a link made before sends `path` nowhere)."""
    try:
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path):
            os.rename(path, path + ".moved")  # (kept: a link back to it is a case too)
        os.symlink(target, path)
    except OSError:
        pass  # (a folder on its way is a link to nowhere, or to a loop: that case stands as it is)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(FOLDERS + OUTPUTS), st.sampled_from(TARGETS)),
        max_size=3,
    )
)
def test_the_shortcut_refuses_what_resolving_refuses(links):
    with tempfile.TemporaryDirectory() as tmp:
        root = _make_workspace(tmp)
        store = os.path.join(root, ".pipe", "store")
        landings = Landings(root, {o: "s" for o in OUTPUTS}, store)
        planned = landings._planned_landings()  # (as the run's first task starts)
        for where, target in links:  # what steps did during the run
            _replace_with_link(os.path.join(root, where), os.path.join(tmp, target))
        for rel in OUTPUTS:
            expected = _refused_by_resolving(root, rel, planned, store)
            if expected:
                with pytest.raises(StepFailure):
                    landings.check(rel)
            else:
                landings.check(rel)


def test_a_link_made_on_the_way_after_a_plain_check_is_refused(tmp_path):
    """The memo of the shortcut keeps only the string work: a link made after an output was
    checked once is seen at its next check."""
    root = _make_workspace(str(tmp_path))
    landings = Landings(root, {"build/a.txt": "s"}, os.path.join(root, ".pipe", "store"))
    landings.check("build/a.txt")
    _replace_with_link(os.path.join(root, "build"), os.path.join(root, ".pipe"))
    with pytest.raises(StepFailure, match="inside .pipe/"):
        landings.check("build/a.txt")

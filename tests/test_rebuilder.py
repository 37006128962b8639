"""The staleness function, on its own: verdicts and reasons from plain data."""

from pipefile.digest import FILE, PathDigest
from pipefile.keys import StepKey
from pipefile.rebuilder import (
    CACHED,
    COMMAND_CHANGED,
    FORCED,
    INPUT_CHANGED,
    NEVER_BUILT,
    OUTPUT_MISSING,
    OUTPUT_MODIFIED,
    PARAM_CHANGED,
    Observation,
    Prior,
    Reason,
    Verdict,
    decide,
    explain,
)

A = PathDigest(FILE, "a" * 32, 1)
B = PathDigest(FILE, "b" * 32, 1)


def manifest(param=1, data="d1"):
    return {
        "v": 1,
        "template": "t",
        "command": f"t {param}",
        "env": "local",
        "params": {"p": param},
        "inputs": {"x": {"path": "in.txt", "kind": "file", "digest": data}},
        "code": {},
        "outputs": {"o": "any"},
    }


def key(**kw):
    return StepKey("k-" + repr(sorted(kw.items())), manifest(**kw))


def test_fresh_when_key_and_outputs_match():
    k = key()
    d = decide("s", Observation(k, Prior(k.digest, k.manifest, {"o": A}), {"o": A}, {"o": "out"}))
    assert d.verdict == Verdict.FRESH and d.reasons == () and not d.record


def test_never_built_runs():
    d = decide("s", Observation(key(), None, {"o": None}))
    assert d.verdict == Verdict.RUN and d.reasons[0].kind == NEVER_BUILT


def test_changed_param_and_input_are_explained_with_old_and_new():
    old, new = key(), key(param=2, data="d2")
    d = decide("s", Observation(new, Prior(old.digest, old.manifest, {"o": A}), {"o": A}))
    kinds = {r.kind: r for r in d.reasons}
    assert d.verdict == Verdict.RUN
    assert kinds[PARAM_CHANGED].old == "1" and kinds[PARAM_CHANGED].new == "2"
    assert kinds[INPUT_CHANGED].subject == "in.txt"


def test_missing_or_modified_output_restores_from_cache_or_runs():
    k = key()
    prior = Prior(k.digest, k.manifest, {"o": A})
    d = decide("s", Observation(k, prior, {"o": None}, {"o": "out"}, cached={"o": A}))
    assert d.verdict == Verdict.RESTORE and d.reasons[0].kind == OUTPUT_MISSING and d.reasons[-1].kind == CACHED
    d = decide("s", Observation(k, prior, {"o": B}, {"o": "out"}))
    assert d.verdict == Verdict.RUN and d.reasons[0].kind == OUTPUT_MODIFIED


def test_cache_hit_whose_outputs_are_already_in_place_is_fresh_and_recorded():
    d = decide("s", Observation(key(), None, {"o": A}, cached={"o": A}))
    assert d.verdict == Verdict.FRESH and d.record


def test_forced_runs_even_when_fresh():
    k = key()
    d = decide("s", Observation(k, Prior(k.digest, k.manifest, {"o": A}), {"o": A}, forced=True))
    assert d.verdict == Verdict.RUN and d.reasons[0].kind == FORCED


def test_explain_names_nothing_when_nothing_changed_but_the_key():
    # the manifests agree field by field (the key moved for another reason): a bare
    # "command changed", naming no subject and no old or new value
    assert explain(manifest(), manifest()) == [Reason(COMMAND_CHANGED)]


def test_explain_without_a_previous_build_says_never_built():
    assert [r.kind for r in explain(None, manifest())] == [NEVER_BUILT]


def test_reasons_are_rendered_by_the_face():
    from pipefile.rebuilder import CACHED, MISSING_INPUT, Reason
    from pipefile.report.reasons import reason_json, reason_text

    assert reason_text(Reason(PARAM_CHANGED, "lr", "0.1", "0.2")) == "param 'lr' changed: 0.1 -> 0.2"
    assert reason_text(Reason(NEVER_BUILT)) == "never built in this workspace"
    assert reason_text(Reason(CACHED, "origin")) == (
        "built before with the same key, on remote 'origin': download and restore"
    )
    assert reason_text(Reason(MISSING_INPUT, "x")) == "input 'x' does not exist (and no step produces it)"
    assert reason_json(Reason(OUTPUT_MODIFIED, "o", "a", "b")) == {
        "kind": OUTPUT_MODIFIED,
        "message": "output 'o' was modified: a -> b",
        "subject": "o",
        "old": "a",
        "new": "b",
    }
    assert not hasattr(Reason, "message")  # the pure layer keeps the data only

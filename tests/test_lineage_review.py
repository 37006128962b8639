"""`pipe lineage` of pipelines shaped as real ones grow: steps that read one step's output
by two ways (diamonds), one after another, and long chains. Real runs, the real CLI."""

from __future__ import annotations

from workspace_repo import Repo


def _ladder(n: int) -> str:
    """Step i reads the outputs of steps i-1 and i-2: every step but the last two is shared."""
    lines = [
        "version: 1",
        "steps:",
        "  s0: {command: 'echo 0 > ${{outputs.o}}', outputs: {o: b/0}}",
        "  s1: {command: 'echo 1 > ${{outputs.o}}', outputs: {o: b/1}}",
    ]
    for i in range(2, n):
        lines += [
            f"  s{i}:",
            f"    command: cat ${{{{inputs.a}}}} ${{{{inputs.b}}}} | head -c 50 > ${{{{outputs.o}}}}; echo {i} >> ${{{{outputs.o}}}}",
            f'    inputs: {{a: "${{{{steps.s{i - 1}.outputs.o}}}}", b: "${{{{steps.s{i - 2}.outputs.o}}}}"}}',
            f"    outputs: {{o: b/{i}}}",
        ]
    return "\n".join(lines) + "\n"


def _steps(node: dict, out: list) -> list:
    s = node.get("produced_by")
    if s is not None:
        out.append(s)
        for inp in s["inputs"].values():
            if inp.get("type") == "data":
                _steps(inp, out)
    return out


def test_lineage_json_writes_a_shared_step_once(repo: Repo):
    # A step whose output two later steps read was written out in full under each of them:
    # the --json of a ladder of n steps held fib(n) step nodes (20 steps: 59 MB; 35: no end
    # in sight), while the text said `shown above`. Now it is written once in full, and
    # where it comes again with "shown_above": true and no inputs.
    n = 18
    repo.pipefile(_ladder(n))
    repo.pipe("run", check=True)
    tree = repo.pipe("lineage", f"b/{n - 1}", "--json", check=True).json
    steps = _steps(tree, [])
    full = [s["step"] for s in steps if not s.get("shown_above")]
    assert sorted(full) == sorted(f"s{i}" for i in range(n)), full  # each step once in full
    again = [s for s in steps if s.get("shown_above")]
    assert len(again) == n - 3 and all(s["inputs"] == {} and s["command"] for s in again)
    # (s2 meets s0 first: every other step i meets step i-2 again.) The text says the same:
    text = repo.pipe("lineage", f"b/{n - 1}", check=True).out
    assert text.count(", ran\n") == n and text.count(": shown above") == n - 3, text

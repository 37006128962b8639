"""Two jobs side by side (`GET /api/compare?a=&b=`): which steps only one of them has,
which changed (another key: something that feeds them differs) and which are the same;
and every property that can differ: the job's params, each step's input digests and
values, its code digests, its environment, and the recorded metrics."""

from __future__ import annotations

from typing import Any


def _value(d: Any) -> Any:
    """What an input record is compared by: its content digest, else its value (an optional
    input left unbound: None, shown as "—", not the record's internal marker)."""
    if isinstance(d, dict):
        if d.get("none") is True:
            return None
        if d.get("left_out") is True:  # (a trial a sweep's gathered task went on without)
            return "(left out)"
        if "digest" in d:
            return d["digest"]
        if "value" in d:
            return d["value"]
    return d


def _step_of(key: str, names: set):
    """The step of a metric's `STEP.NAME` key: the longest step name before one of its dots
    (a task's name has dots), looked up at each dot, not by trying every step (6,400 tasks'
    metrics took 5 s)."""
    dot = len(key)
    while (dot := key.rfind(".", 0, dot)) >= 0:
        if key[:dot] in names:
            return key[:dot]
    return None


def compare_jobs(ws, a, b) -> dict:
    """`a`, `b`: jobdb Jobs of the workspace `ws`."""
    sa = {s.step: s for s in ws.jobs.steps(a.id)}
    sb = {s.step: s for s in ws.jobs.steps(b.id)}
    steps = {
        "only_a": [n for n in sa if n not in sb],
        "only_b": [n for n in sb if n not in sa],
        "changed": [n for n in sa if n in sb and sa[n].key != sb[n].key],
        "same": [n for n in sa if n in sb and sa[n].key == sb[n].key],
    }
    props: list = []

    def add(what: str, step, name: str, va, vb) -> None:
        props.append({"what": what, "step": step, "name": name, "a": va, "b": vb, "same": va == vb})

    for name in sorted(set(a.params) | set(b.params)):
        add("param", None, name, a.params.get(name), b.params.get(name))
    for step in [n for n in sa if n in sb]:
        ia, ib = sa[step].inputs, sb[step].inputs
        for name in sorted(set(ia) | set(ib)):
            what = "code" if name.startswith("code:") else "input"
            shown = name[5:] if what == "code" else name
            add(what, step, shown, _value(ia.get(name)), _value(ib.get(name)))
        add("environment", step, "env", sa[step].env, sb[step].env)
        if sa[step].environment or sb[step].environment:
            add("environment", step, "name", sa[step].environment, sb[step].environment)
    ma, mb = ws.jobs.metrics(a.id), ws.jobs.metrics(b.id)
    names = set(sa) | set(sb)
    for key in sorted(set(ma) | set(mb)):
        step = _step_of(key, names)
        add("metric", step, key[len(step) + 1 :] if step else key, ma.get(key), mb.get(key))
    return {"a": a.to_json(), "b": b.to_json(), "steps": steps, "properties": props}

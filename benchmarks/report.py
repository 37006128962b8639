"""Markdown tables from the results that benchmarks.run collects (also usable on a saved JSON file).

python -m benchmarks.report benchmarks/out/latest.json
"""

from __future__ import annotations

import json
import sys

GIB = 1 << 30
STATUS_CMD = {"pipe": "`pipe status`", "make": "`make -n`", "dvc": "`dvc status`", "snakemake": "`snakemake -n`"}
RATIO_SCENARIOS = ("full", "noop", "status", "change", "touch")
LINEAR_TOLERANCE = 2.0  # the net cost per step may grow this much between two sizes and still count as linear
MIN_NET_TIME = 0.05  # s: below this, a time net of the fixed cost is mostly run-to-run noise
NOISE_S = 0.02  # s: typical run-to-run noise of one whole-process measurement on a busy machine
MIN_DATA_COST = 0.05  # below this (s), the extra cost of big files is run-to-run noise, not a throughput


# --- small formatters ---------------------------------------------------------------------------


def med(res: dict | None, scenario: str) -> float | None:
    """Median seconds of a scenario, or None."""
    r = (res or {}).get(scenario) or {}
    return r.get("median_s")


def secs(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}"


def ms(x: float | None) -> str:
    return "—" if x is None else (f"{x * 1e3:.2f}" if x < 0.01 else f"{x * 1e3:.1f}")


def us(x: float | None) -> str:
    return "—" if x is None else f"{x * 1e6:.1f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "—"
    r = a / b
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def gibs(bps: float | None) -> str:
    return "—" if not bps else f"{bps / GIB:.2f} GiB/s"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ran_list(res: dict | None, scenario: str) -> list[int]:
    return ((res or {}).get(scenario) or {}).get("ran") or []


def expected_text(r: dict) -> str:
    """'3' or '1-2' (the low end with early cutoff, the high end without)."""
    lo, hi = r.get("expected_min"), r.get("expected")
    return f"{hi}" if lo is None or lo == hi else f"{lo}-{hi}"


def ran_cell(res: dict, scenario: str) -> str:
    """Median time, and how many steps ran (the distinct counts over the repetitions)."""
    ran = sorted(set(ran_list(res, scenario)))
    shown = "/".join(str(r) for r in ran) if ran else "?"
    t = med(res, scenario)
    return secs(t) + (f" ({shown} ran)" if t is not None else "")


# --- sections -----------------------------------------------------------------------------------


def machine_section(results: dict) -> str:
    m, opts = results["machine"], results.get("options", {})
    tools = ", ".join(f"{v}" for v in results.get("tools", {}).values())
    return (
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, {m['os']}, Python {m['python']}; "
        f"{m['date']}.  \nTools: {tools}.  \n"
        f"Each figure is the median of up to {opts.get('reps')} runs of the whole process "
        f"(fewer once a measurement has used {opts.get('budget')} s); `-j {opts.get('jobs')}` for pipe, make and "
        f"Snakemake (DVC runs stages one at a time). Whole run: {results.get('total_s', 0):.0f} s; "
        f"load average (1/5/15 min) {_load(m.get('load_start'))} at the start, "
        f"{_load(m.get('load_end'))} at the end "
        "(other work on the machine inflates absolute times; ratios measured in the same run hold better)."
    )


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def reference_section(ref: dict | None) -> str:
    if not ref:
        return "Reference costs: not measured (--no-reference)."
    rows = [
        ["`sh -c true` started from Python (fork, exec, wait)", f"{ms(ref['spawn_sh_true_s'])} ms"],
        ["a step's command, `sh -c 'tail -q -c 64 a b > c && echo s >> log'`", f"{ms(ref['spawn_step_s'])} ms"],
        [f"`os.stat` per file ({ref['stat_files']:,} files, warm)", f"{us(ref['stat_s'])} µs"],
    ]
    for algo, label in (("xxh3_128", "xxh3-128"), ("md5", "md5"), ("read", "read only")):
        rows.append(
            [
                f"{label} of a {ref['big_mib']} MiB file, page cache / cold (after FADV_DONTNEED)",
                f"{gibs(ref[f'{algo}_warm_Bps'])} / {gibs(ref[f'{algo}_cold_Bps'])}",
            ]
        )
    return "### Reference costs on this machine\n\n" + table(["what", "cost"], rows)


def notes(tool: str, res: dict, steps: int) -> str:
    """Flags: a rerun after touch, a wrong number of steps run, errors."""
    out = []
    for scen, r in res.items():
        if r.get("error"):
            out.append(f"{scen}: {r['error'][:160]}")
    touch = [x for x in ran_list(res, "touch") if x]
    if touch:
        out.append(f"**reruns {max(touch)} step(s) after a touch** (timestamps, not content)")
    for scen in ("noop", "status", "dry-run"):
        bad = [x for x in ran_list(res, scen) if x]
        if bad:
            out.append(f"{scen} ran {max(bad)} step(s)")
    change = res.get("change") or {}
    lo, hi = change.get("expected_min"), change.get("expected")
    wrong = [x for x in change.get("ran") or [] if hi is not None and not (lo or 0) <= x <= hi]
    if wrong:
        out.append(f"**change ran {wrong[0]}, expected {expected_text(change)}**")
    elif lo is not None and lo != hi and change.get("ran"):
        out.append("early cutoff after the change" if max(change["ran"]) == lo else "no early cutoff after the change")
    for scen in ("full", "full-cold"):
        short = [x for x in ran_list(res, scen) if x != steps]
        if short:
            out.append(f"{scen} ran {short[0]} of {steps}")
    return "; ".join(out)


def shape_section(entry: dict) -> str:
    """One shape: absolute times per tool, then ratios of pipe to each other tool and of the peers to make."""
    res_by_tool, n = entry["results"], entry["steps"]
    big = "big_bytes" in entry
    header = [
        "tool",
        "full run s",
        "per step ms",
        "no-op s",
        "status s",
        "dry-run s",
        "change s",
        "touch s",
        "peak MiB",
    ]
    if big:
        header[2:2] = ["full, cold cache s", "data cost s", "throughput"]
    header.append("notes")
    rows = []
    for tool, res in res_by_tool.items():
        full = med(res, "full")
        peak = max((r.get("max_peak_mib") or 0 for r in res.values()), default=0)
        per_step = full / n if full and not entry.get("data_shape") else None  # data shapes: 2-5 steps, moot
        row = [
            tool,
            secs(full),
            ms(per_step),
            secs(med(res, "noop")),
            secs(med(res, "status")),
            secs(med(res, "dry-run")),
            ran_cell(res, "change"),
            ran_cell(res, "touch"),
            f"{peak:.0f}" if peak else "—",
        ]
        if big:
            cost = data_cost(res, (entry.get("tiny_full") or {}).get(tool), "full")
            tput = entry["big_bytes"] / cost if cost and cost > MIN_DATA_COST else None
            row[2:2] = [secs(med(res, "full-cold")), secs(cost), gibs(tput) if tput else "—"]
        row.append(notes(tool, res, n))
        rows.append(row)
    expected = expected_text({"expected": entry["expected_change"], "expected_min": entry.get("expected_change_min")})
    title = (
        f"### {entry['name']} ({n} steps; the change edits `{entry['changed']}`, "
        f"after which {expected} step(s) should run)"
    )
    parts = [title, "", table(header, rows)]
    ratios = ratio_rows(res_by_tool)
    if ratios:
        parts += ["", table(["ratio", "full run", "no-op", "status", "change", "touch"], ratios)]
    if big:
        parts += [
            "",
            "*data cost*: fastest full run minus the fastest full run of the same steps on 1-byte files "
            "(the fastest, because a difference of medians drowns in the noise); "
            "*throughput*: size of the big files / data cost.",
        ]
    return "\n".join(parts)


def data_cost(res: dict | None, tiny: dict | None, scenario: str) -> float | None:
    """Seconds the big files add to a full run: fastest run minus the fastest run on 1-byte files."""
    t, t0 = ((res or {}).get(scenario) or {}).get("min_s"), (tiny or {}).get("min_s")
    return None if t is None or t0 is None else t - t0


def ratio_rows(res_by_tool: dict) -> list[list[str]]:
    """pipe / every other tool, and every peer / make, per scenario (>1: slower than the other)."""
    pairs = [("pipe", other) for other in res_by_tool if other != "pipe"]
    pairs += [(peer, "make") for peer in res_by_tool if peer not in ("pipe", "make") and "make" in res_by_tool]
    rows = []
    for a, b in pairs:
        if a in res_by_tool and b in res_by_tool:
            ra, rb = res_by_tool[a], res_by_tool[b]
            rows.append([f"{a} / {b}"] + [ratio(med(ra, s), med(rb, s)) for s in RATIO_SCENARIOS])
    return rows


def scaling_section(scaling: list[dict]) -> str:
    """Times at each N, and the cost per step net of the fixed cost (flat when growth is linear)."""
    if not scaling:
        return ""
    ops = ["full", "noop", "status", "validate", "dry-run", "validate-cold", "dry-run-cold"]
    rows = []
    for e in scaling:
        r = e["results"]
        rows.append([e["tool"], f"{e['n']:,}"] + [secs(med(r, op)) for op in ops])
    parts = [
        "### Scaling: chain of N steps",
        "",
        table(
            [
                "tool",
                "N",
                "full run s (1 run)",
                "no-op s",
                "status s",
                "validate s",
                "dry-run s",
                "validate, cold s",
                "dry-run, cold s",
            ],
            rows,
        ),
        "",
        "*cold*: with pipe's cache of the parsed Pipefile and its graph (`.pipe/cache`) removed first, "
        "so the YAML is parsed, checked and built into a graph again (the first run after an edit).",
    ]
    lin = linearity_rows(scaling, ops)
    if lin:
        parts += [
            "",
            "Cost per step in µs, net of the fixed cost: (t(N) - t(1)) / (N - 1). Growth is linear when "
            f"it stays flat: the verdict compares the two largest N whose net time is at least "
            f"{MIN_NET_TIME:g} s (smaller differences are noise), and allows {LINEAR_TOLERANCE:g}×.",
            "",
            table(["tool", "operation", *lin[0][2], "verdict"], [row[:2] + row[3:] for row in lin]),
        ]
    return "\n".join(parts)


def linearity_rows(scaling: list[dict], ops: list[str]) -> list[list]:
    """Per tool and operation: [tool, op, labels, net µs per step at each N > 1..., verdict]."""
    rows = []
    for tool in dict.fromkeys(e["tool"] for e in scaling):
        series = sorted((e for e in scaling if e["tool"] == tool), key=lambda e: e["n"])
        if len(series) < 2 or series[0]["n"] != 1:
            continue
        labels = [f"N = {e['n']:,}" for e in series[1:]]
        for op in ops:
            pts = [(e["n"], med(e["results"], op)) for e in series]
            if any(t is None for _, t in pts):
                continue
            base = pts[0][1]
            net = [(n, t - base) for n, t in pts[1:]]
            per_step = [us(d / (n - 1)) if d >= NOISE_S else "(noise)" for n, d in net]
            rows.append([tool, op, labels, *per_step, verdict(net)])
    return rows


def verdict(net: list[tuple[int, float]]) -> str:
    """'linear' when the net cost per step at the largest N is within the tolerance of the one before."""
    usable = [(n, d) for n, d in net if d >= MIN_NET_TIME]
    if len(usable) < 2:
        return f"— (needs 2 sizes costing ≥ {MIN_NET_TIME:g} s over N = 1)"
    (n1, d1), (n2, d2) = usable[-2], usable[-1]
    growth = (d2 / (n2 - 1)) / (d1 / (n1 - 1))
    return "linear" if growth <= LINEAR_TOLERANCE else f"**superlinear** (×{growth:.1f} per step)"


# --- goals --------------------------------------------------------------------------------------


def find_shape(results: dict, name: str) -> dict | None:
    return next((e for e in results.get("shapes", []) if e["name"] == name), None)


def find_scaling(results: dict, tool: str, n: int) -> dict | None:
    e = next((e for e in results.get("scaling", []) if e["tool"] == tool and e["n"] == n), None)
    if e:
        return e["results"]
    shape = find_shape(results, f"chain-{n}")
    return shape["results"].get(tool) if shape else None


def check(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


NOT_MEASURED = "not measured"


def goal_rows(results: dict) -> list[list[str]]:
    """The issue's goals, checked against whatever this run measured (rows say what is missing)."""
    ref = results.get("reference") or {}
    return (
        noop_goal_rows(results)
        + full_run_goal_rows(results, ref)
        + touch_goal_rows(results, ref)
        + files_goal_rows(results, ref)
        + big_goal_rows(results, ref)
        + plan_goal_rows(results)
    )


def noop_goal_rows(results: dict) -> list[list[str]]:
    """No-op `pipe run` and `pipe status` on chains of 1,000 and 10,000 steps."""
    rows = []
    make_noop = med(find_scaling(results, "make", 1000), "noop")
    for n, label_n in ((1000, "1,000"), (10000, "10,000")):
        pipe = find_scaling(results, "pipe", n)
        for op, label in (("noop", "no-op `pipe run`"), ("status", "`pipe status`")):
            t = med(pipe, op)
            if n == 1000:
                limit = min(0.4, 1.5 * make_noop) if make_noop else 0.4
                target = f"≤ 0.4 s and ≤ 1.5× make's no-op ({secs(make_noop)} s)"
            else:
                limit, target = 3.0, "≤ 3 s"
            if t is None:
                shown = f"{NOT_MEASURED}: add {n} to --scaling"
            elif n == 1000 and make_noop:
                shown = f"{secs(t)} s ({ratio(t, make_noop)} make)"
            else:
                shown = f"{secs(t)} s"
            rows.append([f"{label}, chain of {label_n}", shown, target, check(None if t is None else t <= limit)])
    return rows


def full_run_goal_rows(results: dict, ref: dict) -> list[list[str]]:
    """Full run of 1,000 trivial steps: pipe's cost per step on top of the step's own command."""
    rows, jobs = [], results.get("options", {}).get("jobs", 2)
    step = ref.get("spawn_step_s")
    for name, parallel in (("chain-1000", 1), ("wide-1000", jobs)):
        e = find_shape(results, name)
        t = med(e["results"].get("pipe"), "full") if e else None
        if t is None and name == "chain-1000":
            t = med(find_scaling(results, "pipe", 1000), "full")
        label = f"full run of {name} (-j {jobs}): wall time per step minus the step's command ({ms(step)} ms" + (
            f" / {parallel} running at once)" if parallel > 1 else ")"
        )
        if t is None or step is None:
            rows.append(
                [
                    label,
                    f"{NOT_MEASURED}: needs the shape {name.replace('-', ':')} and the reference costs",
                    "≤ 5 ms",
                    "—",
                ]
            )
            continue
        n = e["steps"] if e else 1000
        over = t / n - step / parallel
        rows.append([label, f"{ms(over)} ms ({ms(t / n)} ms per step)", "≤ 5 ms", check(over <= 0.005)])
    return rows


def touch_goal_rows(results: dict, ref: dict) -> list[list[str]]:
    """A touch without a content change reruns nothing and costs at most 1.2x a no-op.

    After a touch the file's stat signature changed, so the only way to know that its content
    did not is to read it again: for a big file that read has a floor (its size at xxh3's
    speed from the page cache, measured in the reference costs), and the goal is then judged
    against no-op + that floor."""
    rows = []
    for e in results.get("shapes", []):
        pr = e["results"].get("pipe")
        touch, noop = med(pr, "touch"), med(pr, "noop")
        if touch is None or noop is None:
            continue
        ran = max(ran_list(pr, "touch") or [0])
        label = f"touch only, {e['name']}: reruns nothing, ≤ 1.2× no-op"
        shown = f"{ran} ran, {ratio(touch, noop)} ({secs(touch)} vs {secs(noop)} s)"
        reread, bps = e.get("changed_bytes"), ref.get("xxh3_128_warm_Bps")
        if reread and bps:
            floor = noop + reread / bps
            label += (
                f" (physically at least no-op + reading the touched {reread // 2**20} MiB again: "
                f"{secs(floor)} s = {ratio(floor, noop)} no-op; judged as ≤ 1.2× that)"
            )
            rows.append([label, shown, "0 ran, ≤ 1.2× the floor", check(ran == 0 and touch <= 1.2 * floor)])
            continue
        rows.append([label, shown, "0 ran, ≤ 1.2×", check(ran == 0 and touch <= 1.2 * noop)])
    return rows


def files_goal_rows(results: dict, ref: dict) -> list[list[str]]:
    """No-op over an input folder of 100,000 files within 2x the cost of stat-ing them."""
    n, e = 100000, find_shape(results, "files-100000")
    t = med(e["results"].get("pipe"), "noop") if e else None
    stat = ref.get("stat_s")
    limit = 2 * n * stat if stat else None
    label = "no-op over a folder of 100,000 files ≤ 2× stat-ing them"
    if stat:
        label += f" (100,000 × {us(stat)} µs)"
    if t is None or limit is None:
        return [[label, f"{NOT_MEASURED}: needs the shape files:100000 and the reference costs", "≤ 2× stat", "—"]]
    return [[label, f"{secs(t)} s ({ratio(t, n * stat)} stat)", f"≤ {secs(limit)} s", check(t <= limit)]]


def big_goal_rows(results: dict, ref: dict) -> list[list[str]]:
    """Hashing throughput of the big files (warm and cold) and memory flat in file size."""
    rows = []
    for e in results.get("shapes", []):
        pr = e["results"].get("pipe")
        if "big_bytes" not in e or not pr:
            continue
        tiny = (e.get("tiny_full") or {}).get("pipe") or {}
        for scen, key in (("full", "xxh3_128_warm_Bps"), ("full-cold", "xxh3_128_cold_Bps")):
            cost, refbps = data_cost(pr, tiny, scen), ref.get(key)
            label = f"first hash of {e['name']} ({'page cache' if scen == 'full' else 'cold cache'}) ≥ 80% of xxh3" + (
                f" ({gibs(refbps)})" if refbps else ""
            )
            if cost is None or not refbps:
                rows.append([label, NOT_MEASURED, "≥ 80%", "—"])
            elif cost <= MIN_DATA_COST:
                rows.append([label, f"data cost {secs(cost)} s: too small to tell, use bigger files", "≥ 80%", "—"])
            else:
                bps = e["big_bytes"] / cost
                rows.append(
                    [label, f"{gibs(bps)} ({bps / refbps:.0%})", f"≥ {gibs(0.8 * refbps)}", check(bps >= 0.8 * refbps)]
                )
        peak, peak0 = (pr.get("full") or {}).get("max_peak_mib"), tiny.get("max_peak_mib")
        if peak and peak0:
            rows.append(
                [
                    f"memory flat in file size: peak RSS, {e['name']} vs 1-byte files",
                    f"{peak:.0f} vs {peak0:.0f} MiB",
                    "within 64 MiB",
                    check(peak - peak0 <= 64),
                ]
            )
    if not rows:
        rows.append(
            [
                "first hash of big files ≥ 80% of xxh3; memory flat in file size",
                f"{NOT_MEASURED}: needs a big:KxM shape",
                "≥ 80%",
                "—",
            ]
        )
    return rows


def plan_goal_rows(results: dict) -> list[list[str]]:
    """Load + validate + plan (pipe validate, pipe run --dry-run) linear in N: from a cold
    load (nothing cached of the Pipefile) where measured, else as measured."""
    rows = []
    pipe = [e for e in results.get("scaling", []) if e["tool"] == "pipe"]
    cold = all("validate-cold" in e["results"] for e in pipe)
    ops = ["validate-cold", "dry-run-cold"] if cold else ["validate", "dry-run"]
    for lin in linearity_rows(pipe, ops):
        what = "validate" if lin[1].startswith("validate") else "run --dry-run"
        rows.append(
            [
                f"`pipe {what}`{', cold' if cold else ''} linear in N (net µs per step at {', '.join(lin[2])})",
                " / ".join(lin[3:-1]),
                "linear",
                check(None if lin[-1].startswith("—") else lin[-1] == "linear"),
            ]
        )
    if not rows:
        rows.append(
            [
                "load, validate and plan linear in N",
                f"{NOT_MEASURED}: needs --scaling with 2 or more sizes",
                "linear",
                "—",
            ]
        )
    return rows


def goals_section(results: dict) -> str:
    rows = goal_rows(results)
    if not rows:
        return ""
    return "### Goals (issue 6), as measured in this run\n\n" + table(["goal", "measured", "target", "met"], rows)


def markdown(results: dict) -> str:
    """The whole report."""
    parts = ["## Results", "", machine_section(results), "", reference_section(results.get("reference"))]
    if not results.get("complete", True):
        parts[1:1] = ["", "**Incomplete: the run stopped early (see its log); these are the measurements it made.**"]
    for entry in results.get("shapes", []):
        parts += ["", shape_section(entry)]
    scaling = scaling_section(results.get("scaling", []))
    if scaling:
        parts += ["", scaling]
    goals = goals_section(results)
    if goals:
        parts += ["", goals]
    status = ", ".join(f"{k}: {v}" for k, v in STATUS_CMD.items() if k in results.get("tools", {}))
    parts += [
        "",
        f"Status commands: {status}. *change*/*touch*: median time and the number of steps that ran "
        "(all distinct counts over the runs).",
    ]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the report of a saved results JSON."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m benchmarks.report RESULTS.json", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        print(markdown(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

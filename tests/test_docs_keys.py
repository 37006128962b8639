"""The keys docs/pipefile.md (and environments.md, components.md) say a Pipefile may hold are
exactly the keys the loader accepts: a documented key the loader refuses, or an accepted key no
page names, is a fault a user hits. Read both ways from the docs' tables, the "Long form keys:"
lines and the YAML examples, against the key tables of pipefile/load/."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipefile.load import expansion, fields
from pipefile.load.execution import EXECUTOR_KEYS, SETTINGS_KEYS

DOCS = Path(__file__).resolve().parent.parent / "docs"
_CODE = re.compile(r"`([^`\n]+)`")


def section(page: str, heading: str) -> str:
    """The text under `heading` up to the next heading of its level or above."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s+(.*)$", line)
        if m and m.group(2).strip() == heading:
            level = len(m.group(1))
            out = []
            for rest in lines[i + 1 :]:
                n = re.match(r"^(#+)\s", rest)
                if n and len(n.group(1)) <= level:
                    break
                out.append(rest)
            return "\n".join(out)
    raise AssertionError(f"{page} has no heading {heading!r}")


def table_rows(text: str) -> dict[str, list[str]]:
    """The rows of the markdown tables in `text`: the first cell's code word -> the other cells."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        m = _CODE.fullmatch(cells[0].rstrip(":")) or re.fullmatch(r"`(\w+):`", cells[0])
        if m:
            rows[m.group(1).rstrip(":")] = cells[1:]
    return rows


def _without_parens(text: str) -> str:
    while True:
        shorter = re.sub(r"\([^()]*\)", "", text)
        if shorter == text:
            return text
        text = shorter


def long_form_keys(text: str) -> set[str]:
    """The code words of a "Long form keys:" line, up to its end (a `.` or `:` outside brackets);
    what is in brackets (allowed values, links) is not a key."""
    m = re.search(r"Long form keys:\s*(.*?)(?:\n\n|\n- |\Z)", text, re.S)
    assert m, "no 'Long form keys:' line"
    body = re.split(r"[.:](?:\s|$)", _without_parens(m.group(1)), maxsplit=1)[0]
    return set(_CODE.findall(body))


def yaml_blocks(text: str) -> list[object]:
    return [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)]


def braced_names(cell: str) -> set[str]:
    """The names in a `{a, b: x, c}` of a table cell."""
    m = re.search(r"\{([^{}]*)\}", cell)
    assert m, cell
    return {part.split(":")[0].strip() for part in m.group(1).split(",")}


def test_top_level_keys_table() -> None:
    assert set(table_rows(section("pipefile.md", "Top-level keys"))) == set(fields.TOP_KEYS)


def test_settings_keys() -> None:
    cell = table_rows(section("pipefile.md", "Top-level keys"))["settings"][1]
    spelled = re.search(r"`\{executor: (\{[^`]*\})\}`", cell)
    assert spelled, cell
    assert set(SETTINGS_KEYS) == {"executor"}
    assert braced_names(spelled.group(1)) == set(EXECUTOR_KEYS)


def test_component_keys_table() -> None:
    rows = table_rows(section("pipefile.md", "Components"))
    assert set(rows) == set(fields.COMPONENT_KEYS)
    assert braced_names(rows["inputs"][1]) == set(fields.INPUT_DECL_KEYS)
    assert braced_names(rows["outputs"][1].split(" or ")[-1]) == set(fields.OUTPUT_DECL_KEYS)


def test_step_keys_table_and_expansions() -> None:
    steps = set(table_rows(section("pipefile.md", "Steps")))
    expansions = set(table_rows(section("pipefile.md", "Matrix, sweep and foreach: one step, many tasks")))
    assert expansions == set(expansion.EXPAND_KEYS)
    assert steps | expansions == set(fields.STEP_KEYS)


def test_param_asset_binding_and_output_long_forms() -> None:
    assert long_form_keys(section("pipefile.md", "Params")) == set(fields.PARAM_KEYS)
    assert long_form_keys(section("pipefile.md", "Assets")) == set(fields.ASSET_KEYS)
    assert long_form_keys(section("pipefile.md", "Step inputs")) == set(fields.BINDING_KEYS)
    assert long_form_keys(section("pipefile.md", "Step outputs")) == set(fields.STEP_OUTPUT_KEYS)


def test_resource_keys() -> None:
    text = section("pipefile.md", "Resources")
    assert set(re.findall(r"^- `(\w+)`:", text, re.M)) == set(fields.RESOURCE_KEYS)


def test_sweep_foreach_and_early_termination_keys() -> None:
    sweep = section("pipefile.md", "Sweep")
    train = next(b for b in yaml_blocks(sweep) if isinstance(b, dict) and "steps" in b)["steps"]["train"]
    assert set(train["sweep"]) == set(expansion.SWEEP_KEYS)
    assert set(train["sweep"]["objective"]) == set(expansion.OBJECTIVE_KEYS)
    assert set(train["sweep"]["early_termination"]) == set(expansion.EARLY_KEYS)
    spaces = [train["sweep"]["space"]] + [
        b["space"] for b in yaml_blocks(sweep) if isinstance(b, dict) and "space" in b
    ]
    assert {d for space in spaces for dist in space.values() for d in dist} == set(expansion.SWEEP_DISTRIBUTIONS)
    long_form = [b for b in yaml_blocks(section("pipefile.md", "Foreach: a parallel map")) if "foreach" in b]
    assert [set(b["foreach"]) for b in long_form if isinstance(b["foreach"], dict)] == [set(expansion.FOREACH_KEYS)]


def test_pipeline_component_keys() -> None:
    text = section("pipefile.md", "Pipelines as components")
    comp = next(b for b in yaml_blocks(text) if isinstance(b, dict) and "components" in b)["components"]["train"]
    # `description` is free text on a pipeline component as on any; the example leaves it out.
    assert set(comp) | {"description"} == set(fields.PIPELINE_COMPONENT_KEYS)
    takes = re.search(r"A step using a pipeline takes (.*?) only", text, re.S)
    assert takes
    assert set(_CODE.findall(takes.group(1))) == set(fields.PIPELINE_STEP_KEYS)


def test_environment_keys_and_types() -> None:
    rows = table_rows((DOCS / "environments.md").read_text(encoding="utf-8"))
    assert set(fields.ENVIRONMENT_KEYS) <= set(rows)
    for typ, allowed in fields.ENVIRONMENT_TYPE_KEYS.items():
        documented = {k for k in fields.ENVIRONMENT_KEYS if typ in rows[k][0] or rows[k][0] == "all"}
        assert documented - {"type", "description"} == set(allowed), typ


def test_std_component_yaml_keys() -> None:
    text = (DOCS / "components.md").read_text(encoding="utf-8")
    m = re.search(r"`component.yaml` has the keys of a Pipefile component \((.*?)\)", text, re.S)
    assert m
    extra = re.search(r"It may not set `(\w+)` .*? nor `(\w+)`", text)
    assert extra
    assert set(_CODE.findall(m.group(1))) | set(extra.groups()) == set(fields.COMPONENT_KEYS)
    assert set(fields.LIBRARY_COMPONENT_KEYS) - set(fields.COMPONENT_KEYS) == {"name", "version"}


def test_every_std_component_is_in_both_references() -> None:
    """components.md's Reference tables and std-components.md's headings name every component
    the std library has: one missing is a block a reader never learns of."""
    library = Path(__file__).resolve().parent.parent / "stdlib_components"
    names = {p.parent.name for p in library.glob("*/component.yaml")}
    assert names
    in_tables = set(re.findall(r"^\| \[`std/(\w+)@\d+`\]", section("components.md", "Reference"), re.M))
    headings = set(re.findall(r"^### `std/(\w+)@\d+`", (DOCS / "std-components.md").read_text(encoding="utf-8"), re.M))
    assert names - in_tables == set(), "components.md's Reference leaves out these std components"
    assert names - headings == set(), "std-components.md has no section for these std components"

"""Step environments under review: faults found by trying them, one test each.

Real `pipe` runs in temporary workspaces; venvs are built offline (a wheel made here).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _wheel(path: Path, value: str) -> None:
    """A minimal pure-Python wheel of package `foo` 1.0 whose foo.VALUE is `value`."""
    files = {
        "foo.py": f"VALUE = {value!r}\n",
        "foo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n",
        "foo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
            h = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={h},{len(text)}")
        z.writestr("foo-1.0.dist-info/RECORD", "\n".join(record + ["foo-1.0.dist-info/RECORD,,"]) + "\n")


def _identity(repo, name: str) -> str:
    rows = repo.pipe("envs", "--json", check=True).json["environments"]
    return next(r["identity"] for r in rows if r["name"] == name)


def test_a_wheel_named_by_path_is_part_of_the_venv_identity(repo):
    # Was: only the requirements file's text was keyed, so a wheel rebuilt under the same
    # name left the venv (and the steps' outputs) as they were: stale.
    _wheel(repo.root / "wheels/foo-1.0-py3-none-any.whl", "one")
    repo.write("req.txt", "./wheels/foo-1.0-py3-none-any.whl  # built here\n")
    repo.pipefile("""
        environments:
          v: {type: venv, requirements: req.txt}
        steps:
          a: {command: 'python -c "import foo; print(foo.VALUE)" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: v}
    """)
    assert repo.outcomes(timeout=300) == {"a": "ran"}
    assert repo.read("out/a.txt").strip() == "one"
    assert repo.outcomes() == {"a": "fresh"}
    _wheel(repo.root / "wheels/foo-1.0-py3-none-any.whl", "two")
    st = {s["name"]: s for s in repo.pipe("status", "--json").json["steps"]}
    assert [r["kind"] for r in st["a"]["reasons"]] == ["env_changed"], st["a"]
    assert repo.outcomes(timeout=300) == {"a": "ran"}
    assert repo.read("out/a.txt").strip() == "two"


def test_a_package_folder_is_keyed_by_its_content_not_by_what_building_it_writes(repo):
    repo.write("pkg/foo/__init__.py", "VALUE = 1\n")
    repo.write("pkg/pyproject.toml", "[project]\nname = 'foo'\nversion = '1.0'\n")
    repo.pipefile("""
        environments:
          v: {type: venv, packages: ["./pkg", "-e ./editable", "six==1.16.0"]}
        steps:
          a: {command: 'true', environment: v}
    """)
    first = _identity(repo, "v")
    # What setuptools leaves in a package folder when pip builds it: not content.
    repo.write("pkg/build/lib/foo/__init__.py", "VALUE = 1\n")
    repo.write("pkg/foo.egg-info/PKG-INFO", "Name: foo\n")
    # An editable folder is installed in place: its edits are live, no rebuild is due.
    repo.write("editable/mod.py", "X = 2\n")
    assert _identity(repo, "v") == first
    repo.write("pkg/foo/__init__.py", "VALUE = 2\n")
    assert _identity(repo, "v") != first

"""The designer's server reviewed as a user drives it: real `pipe ui` processes on
127.0.0.1 (the `Ui` client of test_ui_server), real runs, hostile files and requests."""

from __future__ import annotations

import pytest
from test_ui_server import start  # noqa: F401 - the fixture
from workspace_repo import Repo

pytest.importorskip("httpx")


def test_previews_of_a_deeply_nested_json_and_a_csv_with_a_huge_field_are_text_not_a_500(start, tmp_path):  # noqa: F811
    # json.loads raised RecursionError and csv.reader csv.Error (a field over 128 KiB):
    # neither was caught, so the job page's output preview answered 500 with a traceback.
    repo = Repo(tmp_path)
    repo.write(
        "make.py",
        """\
        import sys
        open(sys.argv[1], "w").write("[" * 100000 + "]" * 100000)
        open(sys.argv[2], "w").write('a,b\\n"' + "x" * 200000 + '",1\\n')
        """,
    )
    repo.pipefile(
        """\
        version: 1
        steps:
          make:
            command: python make.py ${{outputs.deep}} ${{outputs.wide}}
            code: [make.py]
            outputs:
              deep: {type: uri_file, path: out/deep.json}
              wide: {type: uri_file, path: out/wide.csv}
        """
    )
    repo.pipe("run", check=True)
    ui = start(repo.root)
    deep = ui.get("/api/jobs/1/steps/make/outputs/deep/preview")
    assert deep.status_code == 200, deep.text
    assert deep.json()["kind"] == "text" and deep.json()["text"].startswith("[[[")
    wide = ui.get("/api/jobs/1/steps/make/outputs/wide/preview")
    assert wide.status_code == 200, wide.text
    body = wide.json()
    assert body["kind"] == "text" and body["text"].startswith("a,b") and "field" in body["note"]

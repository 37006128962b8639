"""`pipe status`'s last line counts what a plan holds: tasks, where a step stands for many
(a matrix's combinations, a foreach's items, those its map record settled included), and
steps where every step is one task."""

from __future__ import annotations

import time


def test_the_summary_counts_a_matrix_tasks_as_tasks(repo):
    repo.pipefile(
        """
        version: 1
        steps:
          a:
            matrix: {x: [1, 2, 3]}
            inputs: {x: {type: integer}}
            command: echo ${{inputs.x}} > ${{outputs.o}}
            outputs: {o: "build/out-${{inputs.x}}.txt"}
          b: {command: 'echo b > ${{outputs.o}}', outputs: {o: b.txt}}
        """
    )
    assert repo.pipe("run").code == 0
    s = repo.pipe("status")
    assert s.code == 0 and s.out.splitlines()[-1] == "all 4 tasks up to date", str(s)
    assert repo.pipe("status", "b").out.splitlines()[-1] == "1 step up to date"


def test_a_foreach_counts_the_items_its_record_settled(repo):
    for i in range(5):
        repo.write(f"data/items/f{i}.txt", f"{i}\n")
    repo.pipefile(
        """
        version: 1
        steps:
          score:
            foreach: ${{inputs.items}}
            inputs: {items: data/items/}
            command: cat ${{inputs.items}} > ${{outputs.o}}
            outputs: {o: build/o/}
          b: {command: 'echo b > ${{outputs.o}}', outputs: {o: b.txt}}
        """
    )
    assert repo.pipe("run").code == 0
    time.sleep(1.1)  # (outputs written within their stat's tick are not settled by the record)
    assert repo.pipe("run").code == 0  # (writes the map record)
    s = repo.pipe("status")
    assert s.code == 0, str(s)
    assert "score  5 tasks: 5 fresh" in s.out and s.out.splitlines()[-1] == "all 6 tasks up to date", str(s)

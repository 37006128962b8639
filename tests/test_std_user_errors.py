"""What a new user of the std library is told when a path input gets the wrong kind of path:
a step cannot change a component's input type, so the hint says which input of the component
takes that kind (std/import_data: `source` a file, `source_folder` a folder)."""

from __future__ import annotations


def test_a_folder_given_to_a_components_file_input_is_pointed_at_its_folder_input(repo):
    repo.write("data/sales/a.csv", "x\n1\n")
    repo.pipefile(
        """\
        version: 1
        steps:
          load:
            component: std/import_data@1
            inputs: {source: data/sales}
            outputs: {data: build/sales.parquet}
        """
    )
    run = repo.pipe("run")
    assert run.code == 2, run
    assert "step 'load' expects a file at 'data/sales', but it is a folder" in run.err
    assert "input 'source' of component 'std/import_data@1' takes a file" in run.err
    assert "bind this path to 'source_folder'" in run.err
    assert "declare it as type" not in run.err  # the step cannot: the type is the component's


def test_the_same_for_a_file_given_to_a_folder_input_of_ones_own_component(repo):
    repo.write("data/a.csv", "x\n1\n")
    repo.pipefile(
        """\
        version: 1
        components:
          count:
            inputs: {folder: uri_folder}
            outputs: {n: uri_file}
            command: ls ${{inputs.folder}} | wc -l > ${{outputs.n}}
        steps:
          c:
            component: count
            inputs: {folder: data/a.csv}
            outputs: {n: build/n.txt}
        """
    )
    run = repo.pipe("run")
    assert run.code == 2, run
    assert "input 'folder' of component 'count' takes a folder: point it at one" in run.err


def test_an_inline_steps_input_keeps_its_hint(repo):
    repo.write("data/a.csv", "x\n1\n")
    repo.pipefile(
        """\
        version: 1
        steps:
          c:
            command: ls ${{inputs.folder}} > ${{outputs.n}}
            inputs: {folder: {type: uri_folder, path: data/a.csv}}
            outputs: {n: build/n.txt}
        """
    )
    run = repo.pipe("run")
    assert run.code == 2, run
    assert "declare it as type: uri_file, or point at a folder" in run.err

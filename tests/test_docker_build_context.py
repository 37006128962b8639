"""A Docker `build:` environment's identity covers its build context (what .dockerignore
leaves out changes no key), and no step output may lie in that context (a load-time error).

The runs need a real daemon (skipped without one, as tests/test_envs_docker.py); the
load-time check and the pattern matcher need none.
"""

from __future__ import annotations

import os

import pytest
from envsupport import busybox_rootfs, docker_client, remove_test_images

TAG = f"ctx{os.getpid()}"


@pytest.fixture(scope="module")
def busybox():
    c = docker_client()
    repo = "pipefile-test/busybox"
    c.api.import_image_from_data(busybox_rootfs(), repository=repo, tag=TAG)
    yield f"{repo}:{TAG}"
    remove_test_images(c, TAG)
    c.close()


def reasons(repo) -> dict:
    r = repo.pipe("status", "--json")
    assert r.code == 0, str(r)
    return {s["name"]: (s["state"], [x["kind"] for x in s["reasons"]]) for s in r.json["steps"]}


def test_build_dot_with_outputs_dockerignored_reruns_only_for_context_changes(repo, busybox):
    repo.write("Dockerfile", f"FROM {busybox}\nLABEL pipefile-test={TAG}\nCOPY app.txt /app.txt\n")
    repo.write(".dockerignore", "out\ndata\n*.log\n")
    repo.write("app.txt", "v1\n")
    repo.write("data/in.txt", "in\n")
    repo.write("data/other.txt", "not read by any step\n")
    repo.pipefile("""
        environments:
          here: {type: docker, build: .}
        steps:
          a: {command: "cat /app.txt ${{inputs.i}} > ${{outputs.o}}", inputs: {i: data/in.txt},
              outputs: {o: out/a.txt}, environment: here}
          b: {command: "cat ${{inputs.i}} > ${{outputs.o}}/b.txt", inputs: {i: out/a.txt}, outputs: {o: out/b/},
              environment: here}
    """)
    assert repo.outcomes() == {"a": "ran", "b": "ran"}
    assert repo.read("out/a.txt") == "v1\nin\n"
    # Its own outputs changed the workspace: still a no-op, and status says fresh.
    assert reasons(repo) == {"a": ("fresh", []), "b": ("fresh", [])}
    assert repo.outcomes() == {"a": "fresh", "b": "fresh"}

    # A file the .dockerignore leaves out (data no step reads, a log) reruns nothing.
    repo.write("data/other.txt", "edited\n")
    repo.write("notes.log", "a log\n")
    assert reasons(repo) == {"a": ("fresh", []), "b": ("fresh", [])}
    assert repo.outcomes() == {"a": "fresh", "b": "fresh"}

    # A file of the context reruns the environment's steps, on an image built from it.
    repo.write("app.txt", "v2\n")
    assert reasons(repo) == {"a": ("run", ["env_changed"]), "b": ("pending", ["upstream"])}
    assert repo.outcomes() == {"a": "ran", "b": "ran"}
    assert repo.read("out/a.txt") == "v2\nin\n"
    assert repo.outcomes() == {"a": "fresh", "b": "fresh"}


PIPEFILE = """
    environments:
      img:
        type: docker
        build: {build}
    steps:
      gen:
        command: "echo x > ${{{{outputs.o}}}}"
        outputs: {{o: {out}}}
        environment: img
"""


@pytest.mark.parametrize(
    "build,out,ignore",
    [
        (".", "out/model.txt", None),  # no .dockerignore: the whole workspace is the context
        (".", "out/model.txt", "data\n"),
        (".", "out/model.txt", "out\n!out/model.txt\n"),  # a `!` line brings it back
        ("envs/img", "envs/img/gen/model.txt", "*.md\n"),
        ("envs/img", "envs/", None),  # the output folder holds the build folder
    ],
)
def test_an_output_in_a_build_context_is_a_located_error(repo, build, out, ignore):
    repo.write(f"{build}/Dockerfile", "FROM scratch\n")
    if ignore is not None:
        repo.write(f"{build}/.dockerignore", ignore)
    repo.pipefile(PIPEFILE.format(build=build, out=out))
    for args in (("validate",), ("run",), ("status",)):
        r = repo.pipe(*args)
        assert r.code == 2, str(r)
        assert "Pipefile:9:" in r.err, str(r)  # the output's line
        assert f"environment 'img' builds from '{build}' (Pipefile:5:" in r.err, str(r)  # the build: line
        assert "image would be built from" in r.err, str(r)
        assert "Dockerfile to a folder of its own" in r.err, str(r)


def test_a_dockerignored_output_loads_and_the_check_follows_the_dockerignore(repo):
    repo.write("Dockerfile", "FROM scratch\n")
    repo.write(".dockerignore", "# outputs\nout/\nres\n")
    repo.pipefile(
        PIPEFILE.format(build=".", out="out/model.txt")
        + "      loc: {command: 'echo y > res/y.txt', outputs: {o: res/y.txt}}\n"
    )
    assert repo.pipe("validate").code == 0
    # Two runs of the local step: the second writes the spec cache, the third reads it.
    assert repo.outcomes("loc") == {"loc": "ran"}
    assert repo.outcomes("loc") == {"loc": "fresh"}
    assert list((repo.root / ".pipe/cache/specs").iterdir())
    # A .dockerignore is not in the spec cache's key: it is read again every time.
    repo.write(".dockerignore", "res\n")
    for args in (("run", "loc"), ("validate",)):
        r = repo.pipe(*args)
        assert r.code == 2 and "add 'out/model.txt' to .dockerignore" in r.err, str(r)


def test_dockerignore_patterns_match_as_docker_matches_them():
    sdk = pytest.importorskip("docker.utils.build")
    from pipefile.load.dockerignore import excluded

    cases = [
        ["out"],
        ["out/"],
        ["/out"],
        ["./out"],
        ["*.pkl"],
        ["**/*.pkl"],
        ["out/*", "!out/keep.txt"],
        ["data", "!data/x"],
        ["build/**"],
        ["a/**/b"],
        ["[a-c]*"],
        ["[!a-c]*"],
        ["?ut"],
        ["**"],
        ["*", "!src"],
        ["out/**/model"],
    ]
    paths = ["out", "out/model.pkl", "model.pkl", "x/model.pkl", "out/keep.txt", "data/x", "data/y", "build/a/b"]
    paths += ["a/b", "a/x/y/b", "bz", "cut", "out/a/model", "src/x.py", "x", "dz/q"]
    for patterns in cases:
        docker_says = sdk.PatternMatcher(patterns)
        for p in paths:
            assert excluded(patterns, p) == docker_says.matches(p), (patterns, p)


def test_the_context_digest_walks_only_what_patterns_split_and_agrees_with_the_sdk(tmp_path):
    """The identity's own walk (folders taken or skipped whole where no pattern reaches
    below them) covers exactly the files the SDK sends: a change to any of those changes the
    digest; a change to any other does not."""
    sdk = pytest.importorskip("docker.utils.build")
    from pipefile.digest import Hasher
    from pipefile.envs.docker.context import identity_digest

    files = ["Dockerfile", "app.py", "src/a.py", "src/b.pyc.txt", "src/deep/c.txt", "data/x.csv", "data/keep.csv"]
    files += ["data/sub/y.csv", "out/m.bin", "docs/readme.md", "docs/x.txt", "logs/a.log", "notes.md"]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text(f)
    ignore = "data\n!data/keep.csv\nout/\n**/*.md\n!docs/readme.md\nsrc/deep\n*.log\nlogs\n"
    (tmp_path / ".dockerignore").write_text(ignore)
    sent = set(sdk.exclude_paths(str(tmp_path), ignore.split(), "Dockerfile"))
    base = identity_digest(Hasher(str(tmp_path)), ".")
    assert base is not None
    for f in files:
        (tmp_path / f).write_text(f + " changed")
        now = identity_digest(Hasher(str(tmp_path)), ".")
        assert (now != base) == (f in sent), (f, sorted(sent))
        (tmp_path / f).write_text(f)
    assert identity_digest(Hasher(str(tmp_path)), ".") == base
    # (without a .dockerignore: None, and the folder's digest is the identity, as before)
    (tmp_path / ".dockerignore").unlink()
    assert identity_digest(Hasher(str(tmp_path)), ".") is None


def test_a_link_in_the_context_counts_as_the_link_and_a_loop_does_not_hang(tmp_path):
    from pipefile.digest import Hasher
    from pipefile.envs.docker.context import identity_digest

    (tmp_path / "src").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("src/*.tmp\n")  # splits src: its entries are walked one by one
    (tmp_path / "src/a.txt").write_text("a")
    os.symlink("..", tmp_path / "src/up")  # a loop, followed
    os.symlink(tmp_path.parent, tmp_path / "src/outside")
    base = identity_digest(Hasher(str(tmp_path)), ".")
    (tmp_path / "src/x.tmp").write_text("left out")
    assert identity_digest(Hasher(str(tmp_path)), ".") == base
    (tmp_path / "src/a.txt").write_text("b")
    assert identity_digest(Hasher(str(tmp_path)), ".") != base

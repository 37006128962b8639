"""Remotes as their files and URLs declare them, reviewed through the real CLI: what a hand-edited
remotes file may say, what a file:// URL names. Each test failed before its fix."""

from __future__ import annotations

from workspace_repo import Repo

PIPEFILE = """
version: 1
steps:
  make:
    command: python -c "open('${{outputs.out}}', 'w').write('made\\\\n')"
    outputs: {out: build/out.txt}
"""


def _workspace(root) -> Repo:
    root.mkdir(parents=True)
    repo = Repo(root)
    repo.pipefile(PIPEFILE)
    return repo


def test_a_remote_name_that_add_refuses_is_refused_in_a_hand_edited_file_where_it_is_written(tmp_path):
    """Was: `pipe remote add` refused "-x" or "bad name", but the same names written into the file by
    hand were taken by every command (`remote list` printed them, `push` pushed to them)."""
    repo = _workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    for name, shown in (('"bad name"', "'bad name'"), ('"-x"', "'-x'"), ('"\\e[31mred"', "'\\x1b[31mred'")):
        repo.write(".pipe-remotes.yaml", f"version: 1\nremotes:\n  ok: {{url: {cache}}}\n  {name}:\n    url: {cache}\n")
        assert repo.pipe("remote", "add", "x", str(cache)).code == 2
        for args in (("remote", "list"), ("remote", "list", "--json"), ("push", "--remote", "ok"), ("run",)):
            r = repo.pipe(*args)
            assert r.code == 2, (args, str(r))
            assert f".pipe-remotes.yaml:4:3: {shown} is not a valid remote name" in r.err, (args, str(r))
            assert "hint: rename it in the file" in r.err and "\x1b" not in r.err, (args, str(r))
        assert not cache.exists()
    # The hint's command removes it.
    repo.write(".pipe-remotes.yaml", f"version: 1\nremotes:\n  -x: {{url: {cache}}}\n")
    r = repo.pipe("remote", "list")
    assert "pipe remote remove -- -x" in r.err, str(r)
    assert repo.pipe("remote", "remove", "--", "-x").code == 0
    assert repo.pipe("remote", "list").code == 0
    # The workspace's own file is read alike.
    repo.write(".pipe/remotes.yaml", f"version: 1\nremotes:\n  '9lives': {{url: {cache}}}\n")
    r = repo.pipe("remote", "list")
    assert r.code == 2 and ".pipe/remotes.yaml:3:3: '9lives' is not a valid remote name" in r.err, str(r)

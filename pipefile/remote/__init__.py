"""Remotes: another place that holds a content store and a run cache (a path, S3, SFTP, ...).

`config` reads and writes the remotes files (.pipe-remotes.yaml, and the machine-local
.pipe/remotes.yaml) and resolves which remote a command uses; `spec` is a remote as
declared, `urls` a URL's scheme and secrets, `schemes` what each kind of URL needs;
`connection` reaches a remote's file system through fsspec (errors mapped and scrubbed,
files written whole) and `transport` keeps pipe's layout on it, verifying every digest on
arrival; `run_cache` answers and fetches what a plan restores from a remote.
Nothing from a remote is trusted without its digest."""

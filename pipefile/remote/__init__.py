"""Remotes: another place that holds a content store and a run cache (a path, S3, SFTP, ...).

`config` reads and writes the remotes file (.pipe-remotes.yaml, and the machine-local
settings beside it); `transport` moves objects and entries through fsspec, verifying every
digest on arrival; `run_cache` answers and fetches what a plan restores from a remote.
Nothing from a remote is trusted without its digest."""

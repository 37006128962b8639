"""Executors: what runs or restores one task for the scheduler, behind one protocol
(protocol.Executor): the local one (local.py), the dry run (dry_run.py), later a Ray cluster."""

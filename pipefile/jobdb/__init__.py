"""The job database, `.pipe/jobs.db`: one SQLite file per workspace.

    schema.py     every table, index and migration (JOBS_VERSION, SCHEMA_REVISION), and the layout
    records.py    job statuses, served-job states, Job and JobStep rows (shared by the stores below)
    jobs.py       JobStore: jobs, their steps and metrics; artifact versions mixed in from artifacts.py
    artifacts.py  artifact versions (ArtifactVersion, ArtifactIndex)
    serving.py    ServeStore over a JobStore: endpoints, deployments, tokens, uploads, run-cache
                  producers, the queue, job events and idempotency keys
    busy.py       waiting out another pipe that is creating or migrating a database

Nothing is imported here, so a `pipe run` that needs only JobStore does not load the
server's store.
"""

"""The HTTP layer of the REST API: the only part of pipefile.serve that imports FastAPI
or Starlette. Routers parse a request, call the HTTP-free logic (serve/access.py,
endpoints_view.py, submission.py, jobs_view.py, receiving.py) and map its answers and
refusals (serve/refusals.py) to responses; serve/app.py assembles them.

    context.py    what every router shares: the config, the worker pool, the per-thread
                  workspace, the bearer-token dependency
    errors.py     refusals and framework errors -> status, headers, the one error body
    models.py     request bodies and path parameters (they make the OpenAPI schema)
    endpoints.py  /health, /endpoints...
    uploads.py    /uploads...
    jobs.py       invoking and planning, /jobs...
    online.py     /online... (real-time deployments of a model: scoring rows)
"""

"""`pipe ui`: the designer's server. The logic is HTTP-free (pipeline_view, library, runs,
jobs_view, previews, compare, drafts); FastAPI lives only in app.py and http/, uvicorn
in server.py. The front end it serves is built into static/ (by the ui-web branch)."""

"""Batch endpoints over REST: `pipe serve` (the server: app.py, worker.py, uploads.py,
server.py) and `pipe invoke` (client.py). Only this package imports the HTTP stack."""

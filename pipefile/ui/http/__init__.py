"""The designer's routers: each route parses its request, calls the HTTP-free logic of
pipefile/ui/ and answers JSON (or an event stream)."""

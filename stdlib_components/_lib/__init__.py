"""Code shared by the std components' scripts (not a public API of pipefile)."""

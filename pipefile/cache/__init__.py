"""The build cache: the content store (every output once, named by its digest), the action
cache (a task's key -> the digests of its outputs) and their garbage collection.

Invariant: an action-cache entry never names an object the content store lacks (objects
are written first, the entry last; gc removes entries before the objects they name)."""

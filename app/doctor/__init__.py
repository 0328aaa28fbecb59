"""``doctor``: every check sending needs, each problem with its fix. No Qt."""

"""Trial traces: the SQLite store, and (later) the dashboard and analytics over it."""

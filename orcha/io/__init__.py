"""The edges of orcha: every module that touches the outside world (SQLite, processes, networks) lives here."""

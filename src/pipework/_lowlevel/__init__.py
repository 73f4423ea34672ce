"""Private plumbing with no knowledge of guests, drivers or attaches: value records,
JSON without ``json``, an HTTP GET over a unix socket, /proc facts, child processes."""

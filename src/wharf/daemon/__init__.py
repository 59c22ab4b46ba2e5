"""wharfd: the daemon process (configuration, logging, the API server's sockets, signals)."""

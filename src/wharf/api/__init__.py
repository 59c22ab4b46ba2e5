"""The Docker Engine API server (aiohttp): routes over the engine; the only HTTP server code."""

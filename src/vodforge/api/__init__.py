"""The HTTP API: FastAPI app, auth dependencies, one error mapping, and the routes."""

"""The web surfaces: the Quart-Trio HTTP API, SSE streams, the websocket dashboard and the MCP endpoint."""

"""orcha: a local, private orchestrator that supervises a team of AI coding agents.

The package root holds the pure domain (types, state machines, decisions); ``orcha.io`` the edges,
``orcha.actors`` and ``orcha.supervisors`` the live system, ``orcha.web`` the HTTP, SSE, websocket and MCP
surfaces. Dependencies point inward: nothing at the root imports ``io`` or ``web``.
"""

__version__ = "0.1.0"

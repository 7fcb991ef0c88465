"""orcha's fake agent TUI: the scripted fake agent as a program in a tmux pane (``orcha serve --tmux`` with
fake agents).

``python -m orcha.cli.fake_tui --session … --role … --mcp-config FILE`` prints its script like an agent
TUI (the typed input as ``> …``, ``● Edit(src/x.py)``, assistant text, ``⎿`` results), reads steering from
the keyboard, calls orcha's tools over the session's MCP endpoint with the secret in the config file (never
on its command line), and reports usage, questions and turn ends in-band (:mod:`orcha.agents.pane_reports`).
The player is :mod:`~orcha.agents.fake_tui.player`, the keyboard and screen :mod:`~orcha.agents.fake_tui.terminal`,
how orcha runs it :mod:`~orcha.agents.fake_tui.command`.
"""

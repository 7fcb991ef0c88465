"""Agent providers: the contract, the registry with exhaustion and fallbacks, and the scriptable fake."""

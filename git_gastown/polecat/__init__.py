"""Polecats: agent processes bound to Hooks (spawn, runner, adapters, prime)."""

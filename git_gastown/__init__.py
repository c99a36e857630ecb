"""git-gastown: many coding agents on real repositories, with git as the only database."""

__version__ = "0.1.0"

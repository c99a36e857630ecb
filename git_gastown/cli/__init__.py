"""The click layer: parse arguments, call the domain, print."""

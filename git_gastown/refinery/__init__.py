"""The Refinery: a local merge queue that batches, verifies, bisects and lands work."""

"""expandctl.engine package."""

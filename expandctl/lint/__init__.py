"""expandctl.lint package."""

"""One module per rule; ``expandctl.lint.registry.RULES`` lists them all."""

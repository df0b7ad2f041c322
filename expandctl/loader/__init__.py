"""Read migrations and configuration from disk into model objects, strictly."""

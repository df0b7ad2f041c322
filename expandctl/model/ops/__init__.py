"""Declarative operations: one module per ``op``, listed in registry.OPERATION_CLASSES."""

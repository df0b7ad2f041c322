"""The click command line: parse, call a command, render, map errors to exit codes."""

from expandctl.cli.app import cli, main

__all__ = ["cli", "main"]

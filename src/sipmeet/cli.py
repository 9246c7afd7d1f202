"""Command line entry point (placeholder until the CLI lands)."""

import sys


def main() -> int:
    print("sipmeet: CLI not built yet", file=sys.stderr)
    return 2

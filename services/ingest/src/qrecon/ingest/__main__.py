"""Console entry point (placeholder until the service is built)."""

import sys


def main() -> None:
    sys.exit("not implemented yet")


if __name__ == "__main__":
    main()

"""``python -m meterbook`` runs the command-line interface."""

from meterbook.cli import main

if __name__ == "__main__":
    main()

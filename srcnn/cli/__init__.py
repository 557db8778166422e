"""Command-line entry points; the top-level scripts call ``main()`` of these modules. What they share
(error handling, argparse types, the weights options) is in ``common``."""

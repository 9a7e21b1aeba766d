"""The ``terralearn`` command line: one thin module per command."""

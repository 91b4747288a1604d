"""``python -m quidam_fast.cli`` is the ``quidam-fast`` command."""

from quidam_fast.cli.main import main

main()

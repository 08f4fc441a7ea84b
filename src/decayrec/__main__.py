"""``python -m decayrec`` runs the command line."""

from decayrec.cli import console_main

console_main()

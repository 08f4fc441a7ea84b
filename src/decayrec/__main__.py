"""``python -m decayrec`` runs the command line."""

from decayrec.cli import console_main

if __name__ == "__main__":
    console_main()

# `python -m pipefile.cli` keeps working now that cli is a package (`python -m pipefile` and
# the `pipe` script go through entry.py, which also answers --version before click loads).
from .app import main

main(prog_name="pipe")

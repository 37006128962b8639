# `python -m pipefile.cli` keeps working now that cli is a package (as `python -m pipefile`).
from ..entry import main

main()

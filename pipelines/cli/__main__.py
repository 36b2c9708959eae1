"""`python -m pipelines.cli`: tpctl without its console script (the tests run it so)."""
import sys

from pipelines.cli import main

sys.exit(main())

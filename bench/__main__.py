"""``python -m bench``: run the benchmarks and print medians and ratios."""

import sys

from bench.run import main

sys.exit(main())

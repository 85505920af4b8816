"""``python -m bench``: every row of the benchmark table (see ``bench.run``)."""

from bench.run import main

raise SystemExit(main())

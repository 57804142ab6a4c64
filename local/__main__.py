"""`python -m local`: start the embedded stack and serve until Ctrl-C."""

import sys

from local.stack import main

sys.exit(main())

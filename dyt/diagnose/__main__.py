import sys

from dyt.diagnose.cli import main

sys.exit(main())

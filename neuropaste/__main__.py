import sys

from neuropaste.cli import main

sys.exit(main())

import sys

from realcam.cli.main import main

sys.exit(main())

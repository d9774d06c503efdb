import sys

from harness.nodeagent.node import main

sys.exit(main())

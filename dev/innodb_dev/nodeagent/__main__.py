import sys

from innodb_dev.nodeagent.node import main

sys.exit(main())

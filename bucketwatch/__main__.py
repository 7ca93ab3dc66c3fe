import sys

from bucketwatch.cli import main

sys.exit(main())

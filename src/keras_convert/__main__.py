"""`python -m keras_convert`: the `keras-convert` command line."""

import sys

from keras_convert.cli import main

sys.exit(main())

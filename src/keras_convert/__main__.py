"""`python -m keras_convert`: the `keras-convert` command line."""

from keras_convert.cli import run

run()

"""The Keras versions keras_convert supports, written down once.

The door's messages (`_keras_api`), its tests, `noxfile.py` (which makes one test run per
minor) and pyproject.toml's `keras>=FLOOR` (checked by tests/test_versions.py) all read
these. The module imports nothing, so `noxfile.py` can load it by path without Keras.
"""

# Every Keras minor the compatibility matrix runs the library's tests on, oldest first.
KERAS_MINORS = ("3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
# The floor is the lowest Keras on which every library test passes.
FLOOR, LATEST = KERAS_MINORS[0], KERAS_MINORS[-1]
SUPPORTED = f"Keras {FLOOR} to {LATEST}"

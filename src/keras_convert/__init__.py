"""keras_convert."""

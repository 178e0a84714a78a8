"""KerasHub T5: where its parts are, and standard sizes built offline."""

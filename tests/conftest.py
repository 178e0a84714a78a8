import os
import sys

# Shared test helpers (t5_cases.py) live beside this file.
sys.path.insert(0, os.path.dirname(__file__))

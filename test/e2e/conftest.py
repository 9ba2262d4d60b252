import os
import sys

# The moe_opt python package lives in python/ of the source tree.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

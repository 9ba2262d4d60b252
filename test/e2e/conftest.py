import os
import sys

# The moe_opt python package lives in python/ of the source tree.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

import pytest  # noqa: E402

# Files whose tests share nothing (no fixtures: each case lowers and
# emulates its own kernels) and take minutes in all: their tests spread over
# the xdist workers one by one. Every other file's tests stay on one worker
# together (--dist loadgroup, one group per file), so that its fixtures
# compile each export once.
SPREAD_FILES = {"test_gpu_emulation.py", "test_gpu_layer_emulation.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = os.path.basename(str(item.fspath))
        if name not in SPREAD_FILES:
            item.add_marker(pytest.mark.xdist_group(name))

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Never reach a hub from tests: a missing file must fail at once (stack-notes: ~23 s of retries otherwise).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The demo room is cached on disk; tests (and the CLIs they start as subprocesses) keep it in a temporary folder,
# never in the user's cache. Scene tests that check the cache location itself unset this (tests/scene/conftest.py).
if "REALCAM_DEMO_CACHE" not in os.environ:
    os.environ["REALCAM_DEMO_CACHE"] = tempfile.mkdtemp(prefix="realcam-test-demo-cache-")
    atexit.register(shutil.rmtree, os.environ["REALCAM_DEMO_CACHE"], ignore_errors=True)

sys.path.insert(0, str(Path(__file__).parent))  # `import parity` from any test

import os
import sys
from pathlib import Path

# Never reach a hub from tests: a missing file must fail at once (stack-notes: ~23 s of retries otherwise).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).parent))  # `import parity` from any test

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # `import eval_room` (the shared room is `tests/synthetic_room.py`)

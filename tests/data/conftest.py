import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # `import data_re10k_folder`, `import data_scene`

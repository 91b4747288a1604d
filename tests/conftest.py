import signal
import sys
from pathlib import Path

# tests import their helpers (reference.py, scalesim_runner.py) as top-level modules
sys.path.insert(0, str(Path(__file__).parent))

# A suite run as a background job (`pytest &`, some CI runners) inherits SIGINT ignored, and so would
# every command it starts; the Ctrl-C tests need Python's own handler here and the default in children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

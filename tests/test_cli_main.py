import subprocess
import sys

from realcam.cli.main import main


def test_help_lists_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "usage: realcam" in out


def test_module_entry_point_version():
    result = subprocess.run([sys.executable, "-m", "realcam", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("realcam ")

import subprocess
import sys

import pytest

from graph_dpg.cli import COMMANDS, build_parser, main


def test_every_command_is_registered_by_its_module():
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(choices) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_alone_builds_only_its_parser(command):
    parser = build_parser(command)
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(choices) == {command}


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_address_explain_does_not_import_the_service_stack():
    code = (
        "import sys; from graph_dpg.cli import main; "
        "rc = main(['address', 'explain', '0101701234@29189846.ngdp.digital-post.dk']); "
        "heavy = [m for m in ('msgraph', 'sqlalchemy', 'graph_dpg.bootstrap') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout

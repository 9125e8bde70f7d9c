"""Command-line habits: --version, examples in every --help, no "(default: None)", did-you-mean for
commands and preset globs, a quiet exit when the reader of stdout goes away, -o for options (export: its output)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from dustbench.cli import build_parser, main
from dustbench.version import __version__

COMMANDS = [["synth"], ["make-dataset"], ["preview"], ["list"], ["restore"], ["export"], ["evaluate"],
            ["fit-preset"], ["train"], ["leaderboard", "build"], ["leaderboard", "reproduce"]]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"dustbench {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_help_has_examples_and_no_empty_defaults(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = capsys.readouterr().out
    assert "examples:\n  dustbench" in text or "examples:\n  torchrun" in text
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text


def test_short_o_means_option_everywhere():
    """`-o KEY=VALUE` is a method option in evaluate and restore; no other command uses -o, except export,
    which takes no options and whose `-o FILE` (its output) scripts relied on."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if "-o" in action.option_strings:
                assert action.dest == ("output" if name == "export" else "option"), name


def test_a_mistyped_command_gets_a_suggestion(capsys):
    with pytest.raises(SystemExit):
        main(["synt"])
    assert "did you mean 'synth'" in capsys.readouterr().err


def test_a_glob_that_matches_nothing_gets_a_close_glob(capsys):
    assert main(["preview", "--presets", "rian_*", "--out", "x.png"]) == 2
    assert "did you mean 'rain_*'" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly():
    """`dustbench list presets | head -1`, with the reader gone before anything is written."""
    code = ("import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); "
            "from dustbench.cli import main; sys.exit(main(['list', 'presets']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr

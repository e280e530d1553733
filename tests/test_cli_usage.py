"""A bad flag is answered with the usage of the subcommand it was given to."""

from __future__ import annotations

import pytest

from qa.serve.cli import main


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["ask", "--bogus", "Hải Phòng?"], "usage: qa ask "),
        (["index", "--bogus"], "usage: qa index "),
        (["feedback", "export", "--bogus"], "usage: qa feedback export "),
        (["list", "--bogus"], "usage: qa list "),
    ],
)
def test_bad_flag_prints_the_subcommands_usage(argv, usage, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage), err
    assert "unrecognized arguments: --bogus" in err
    if argv[0] == "ask":
        assert "--since DATE" in err and "{index,ask" not in err

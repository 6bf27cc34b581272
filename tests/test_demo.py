"""``python -m skgate demo``: what it prints."""

from skgate.__main__ import main


def test_demo_prints_no_ansi_codes_when_not_a_terminal(capsys):
    # pytest captures stdout: not a terminal, as when the demo is piped to a file
    assert main(["demo", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "train_loss" in out  # skorch's epoch table is printed...
    assert "\x1b" not in out  # ...without colour codes
    assert "routing accuracy" in out
    # the footer says why the std statistic routes badly
    assert "std routes badly on purpose: it picks the expert whose logits are the least " \
        "spread" in out

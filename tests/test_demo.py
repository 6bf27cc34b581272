"""``python -m skgate demo``: what it prints."""

import torch

from skgate.__main__ import main


def test_demo_prints_no_ansi_codes_when_not_a_terminal(capsys, monkeypatch):
    # pytest captures stdout: not a terminal, as when the demo is piped to a file
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["demo", "--epochs", "1"]) == 0
        assert torch.get_num_threads() == 1  # one thread unless the user chose
        main(["demo", "--epochs", "1", "--threads", "2"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "train_loss" in out  # skorch's epoch table is printed...
    assert "\x1b" not in out  # ...without colour codes
    assert "routing accuracy" in out
    # the footer says why the std statistic routes badly
    assert "std routes badly on purpose: it picks the expert whose logits are the least " \
        "spread" in out

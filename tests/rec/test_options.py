"""The training options are declared once: every command that trains has the same flags, defaults
and meaning."""

from __future__ import annotations

import argparse

import pytest

from secagg.cli import build_parser
from secagg.errors import PrivacyError
from secagg.rec.options import MODEL, PRIVACY, TRAINING, default_server_lr, dp_config, server_lr


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _defaults(name: str) -> dict[str, object]:
    return {a.option_strings[0]: a.default for a in _subparser(name)._actions if a.option_strings}


@pytest.mark.parametrize("command", ["train", "demo", "server"])
def test_every_training_command_shares_the_training_flags_and_their_defaults(command):
    defaults = _defaults(command)
    for flag in (*MODEL, *TRAINING, *PRIVACY):
        assert flag.flag in defaults, (command, flag.flag)
        if not (command == "demo" and flag.flag == "--factors"):  # the demo is a smaller preset
            assert defaults[flag.flag] == flag.default, (command, flag.flag)


def test_the_train_and_server_commands_agree_on_the_clip_and_the_local_epochs():
    train, server = _defaults("train"), _defaults("server")
    for flag in ("--clip-norm", "--local-epochs", "--lr", "--reg", "--factors", "--server-lr"):
        assert train[flag] == server[flag], flag
    assert _defaults("client")["--factors"] == server["--factors"]  # a device builds the server's model


def test_the_server_learning_rate_default_is_one_rule():
    args = argparse.Namespace(server_lr=None, server_optimizer="fedavg")
    assert server_lr(args, 20) == default_server_lr("fedavg", 20) == 20.0
    assert default_server_lr("fedadam", 20) == 0.01 and default_server_lr("fedavg", None) == 1.0
    assert server_lr(argparse.Namespace(server_lr=0.5, server_optimizer="fedavg"), 20) == 0.5


def test_dp_options_without_epsilon_or_noise_are_refused():
    args = _subparser("server").parse_args(["--db", "x", "--cert", "c", "--key", "k", "--delta", "1e-5"])
    with pytest.raises(PrivacyError, match="--delta needs --epsilon or --noise-multiplier"):
        dp_config(args, num_users=100, rounds=3)

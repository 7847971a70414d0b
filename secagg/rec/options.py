"""The training options every command that trains takes, declared once.

``secagg train``, ``secagg demo`` and ``secagg server`` (and ``secagg client`` for the model size)
add these flags with :func:`add_training_options`, so a flag has one name, one default and one
meaning wherever it appears; :func:`local_config`, :func:`server_lr` and :func:`dp_config` turn
the parsed values into the library's configuration objects.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, PrivacyError

SERVER_OPTIMIZERS = ("fedavg", "fedadam")


@dataclass(frozen=True)
class Flag:
    """One command-line option: its flag, parser keywords and help (with the default shown)."""

    flag: str
    default: Any
    help: str
    type: Any = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    def add_to(self, parser: argparse.ArgumentParser | Any, default: Any) -> None:
        shown = "" if default is None else f" (default: {default})"
        parser.add_argument(self.flag, type=self.type, choices=self.choices, default=default,
                            metavar=self.metavar, help=self.help + shown)


def positive_int(text: str) -> int:
    """An argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


MODEL = (Flag("--factors", 32, "latent factors of the model", positive_int),)
TRAINING = (
    Flag("--clients-per-round", 50, "clients sampled per round", positive_int),
    Flag("--local-epochs", 5, "local BPR epochs per round", positive_int),
    Flag("--lr", 0.05, "local learning rate", float),
    Flag("--reg", 0.001, "L2 regularisation of local training", float),
    Flag("--clip-norm", 5.0, "L2 clip of each client's update (also the DP sensitivity)", float),
    Flag("--server-optimizer", "fedavg", "how the server applies the mean update", choices=SERVER_OPTIMIZERS),
    Flag("--server-lr", None, "server learning rate (default: clients per round for fedavg, 0.01 for fedadam)",
         float),
    Flag("--quantization-range", 2**16, "quantization levels of the secure aggregators", int),
    Flag("--seed", 0, "seed of the initial model and of the simulation", int),
)
LEVERS = (
    Flag("--participation", "sampled", "sampled: --clients-per-round per round; full: every user in every "
         "round (small populations, few rounds; DP is then accounted unsampled: both epsilons equal)",
         choices=("sampled", "full")),
    Flag("--server-average", "included", "what the server divides the (noisy) sum by: the clients included "
         "or the expected cohort size", choices=("included", "expected")),
    Flag("--server-momentum", 0.0, "FedAvg server momentum in [0, 1) (averages the DP noise of successive "
         "rounds)", float),
    Flag("--prior-epsilon", None, "make a DP popularity release with this epsilon before training and add "
         "--prior-weight x its log-count score to every item's score (with DP: composed into --epsilon; "
         "inf: exact counts, non-private runs only)", float),
    Flag("--prior-weight", None, "weight of the popularity prior in the scores (default: 0.3)", float),
    Flag("--prior-cap", None, "items each user contributes at most to the prior's histogram (default: 32)",
         int),
    Flag("--head-items", None, "learn factors only for this many items with the largest prior counts; "
         "the others are ranked by the prior (default: 0 = every item)", int),
    Flag("--item-init", "random", "item factors start random, or from public item features (MovieLens "
         "genres from u.item)", choices=("random", "features")),
)
PRIVACY = (
    Flag("--epsilon", None, "target user-level epsilon over all --rounds: the noise is calibrated to it",
         float),
    Flag("--noise-multiplier", None, "noise multiplier (instead of --epsilon): the epsilon it spends is "
         "reported", float),
    Flag("--delta", None, "delta (default: min(1 / users, 1e-5))", float),
    Flag("--dp-accountant", None, "skellam: closed-form Skellam RDP (default); gaussian: its Gaussian "
         "approximation", choices=("skellam", "gaussian")),
    Flag("--dp-bits", None, "modulus bits of the noisy integer sum (default: 32)", int),
    Flag("--dp-sampling", None, "how each round's clients are drawn, and accounted: poisson (default; "
         "each user joins with probability clients-per-round / users), fixed (exactly "
         "clients-per-round users, replace-one adjacency) or cyclic (each user once per epoch; no "
         "amplification, so the guarantee also holds against the server)",
         choices=("poisson", "fixed", "cyclic")),
)


def add_training_options(parser: argparse.ArgumentParser, *, privacy: bool = True, levers: bool = False,
                         **defaults: Any) -> None:
    """Add the model, training, (with ``levers``) the simulator's utility levers and (with
    ``privacy``) distributed-DP options; ``defaults`` (by destination name, e.g. ``factors=16``)
    change a default for one command, such as a short demo or a benchmark's documented setup."""
    flags = {flag.flag.lstrip("-").replace("-", "_"): flag
             for flag in (*MODEL, *TRAINING, *(LEVERS if levers else ()))}
    unknown = set(defaults) - set(flags)
    if unknown:  # pragma: no cover - a programming error in a command's set-up
        raise ValueError(f"no training option {sorted(unknown)}")
    for dest, flag in flags.items():
        flag.add_to(parser, defaults.get(dest, flag.default))
    if not privacy:
        return
    group = parser.add_argument_group("distributed differential privacy (user-level; needs the [dp] extra)")
    for flag in PRIVACY:
        flag.add_to(group, flag.default)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Only the model's shape (a device must build the same model as its server)."""
    for flag in MODEL:
        flag.add_to(parser, flag.default)


def local_config(args: argparse.Namespace) -> Any:
    """The :class:`~secagg.rec.client.LocalConfig` the parsed options ask for."""
    from .client import LocalConfig

    return LocalConfig(epochs=args.local_epochs, lr=args.lr, reg=args.reg, clip_norm=args.clip_norm)


def default_server_lr(optimizer: str, clients_per_round: int | None) -> float:
    """FedAvg steps by the mean times the clients per round (sparse item updates are averaged over
    every client, most of which never touched an item); FedAdam by 0.01."""
    return 0.01 if optimizer == "fedadam" else float(clients_per_round or 1)


def server_lr(args: argparse.Namespace, clients_per_round: int | None) -> float:
    """``--server-lr``, or the optimizer's default for ``clients_per_round`` clients."""
    if args.server_lr is not None:
        return float(args.server_lr)
    return default_server_lr(args.server_optimizer, clients_per_round)


def prior_config(args: argparse.Namespace) -> Any:
    """The :class:`~secagg.rec.prior.PriorConfig` of ``--prior-*`` / ``--head-items`` (None without
    ``--prior-epsilon``); the other prior flags alone are an error."""
    from .prior import DEFAULT_CAP, PriorConfig

    eps = getattr(args, "prior_epsilon", None)
    if eps is None:
        extra = [f for f in ("--prior-weight", "--prior-cap", "--head-items")
                 if getattr(args, f.lstrip("-").replace("-", "_"), None) is not None]
        if extra:
            raise ConfigError(f"{', '.join(extra)} {'needs' if len(extra) == 1 else 'need'} --prior-epsilon")
        return None
    return PriorConfig(epsilon=eps, weight=PriorConfig.weight if args.prior_weight is None else args.prior_weight,
                       cap=DEFAULT_CAP if args.prior_cap is None else args.prior_cap,
                       head_items=0 if args.head_items is None else args.head_items)


def optimizer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The server optimiser's options beyond its learning rate (``--server-momentum``: FedAvg only)."""
    momentum = getattr(args, "server_momentum", 0.0) or 0.0
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"--server-momentum must be in [0, 1), got {momentum}")
    if momentum and args.server_optimizer != "fedavg":
        raise ConfigError("--server-momentum applies to --server-optimizer fedavg (fedadam has its own)")
    return {"momentum": momentum} if momentum else {}


def resolve_participation(args: argparse.Namespace, num_users: int) -> None:
    """``--participation full``: set ``args.clients_per_round`` to every user (``num_users``)."""
    if getattr(args, "participation", "sampled") != "full":
        return
    if getattr(args, "sampling_rate", None) is not None:
        raise ConfigError("--participation full takes every user in every round; drop --sampling-rate")
    args.clients_per_round = int(num_users)


def wants_dp(args: argparse.Namespace) -> bool:
    """Whether the DP options turn distributed DP on; other DP options alone are an error."""
    if args.epsilon is not None or args.noise_multiplier is not None:
        return True
    extra = [flag.flag for flag in PRIVACY[2:] if getattr(args, flag.flag.lstrip("-").replace("-", "_")) is not None]
    if extra:
        raise PrivacyError(f"{', '.join(extra)} {'needs' if len(extra) == 1 else 'need'} "
                           "--epsilon or --noise-multiplier")
    return False


def dp_config(args: argparse.Namespace, *, num_users: int, rounds: int, dropout_fraction: float = 0.0,
              n_items: int | None = None, aggregator: str = "plain") -> Any:
    """The :class:`~secagg.dp.DPConfig` of the parsed DP options (None when DP is off); raises
    :class:`~secagg.errors.PrivacyError` on bad values before anything is trained. With a prior
    (``--prior-epsilon``; needs ``n_items``), its release is composed into the plan."""
    if not wants_dp(args):
        return None
    prior = prior_config(args)
    from ..dp import DPConfig
    from ..dp.config import default_noise_split

    sampling = args.dp_sampling or "poisson"
    n = args.clients_per_round
    min_clients = None  # DPConfig refuses bad sizes with a clearer message
    if dropout_fraction and isinstance(n, int) and 1 <= n <= num_users and sampling in ("poisson", "fixed", "cyclic"):
        min_clients = default_noise_split(sampling, n, num_users, dropout_fraction)
    base = DPConfig(clip_norm=args.clip_norm, clients_per_round=args.clients_per_round, num_users=num_users,
                    rounds=rounds, epsilon=args.epsilon, noise_multiplier=args.noise_multiplier,
                    delta=args.delta, accountant=args.dp_accountant or "skellam",
                    bits=32 if args.dp_bits is None else args.dp_bits, sampling=sampling,
                    min_clients=min_clients)
    if prior is None:
        return base
    if n_items is None:  # pragma: no cover - a programming error in a command's set-up
        raise ValueError("a prior needs n_items")
    from dataclasses import replace

    from .prior import release_mechanism

    release = release_mechanism(prior, num_users=num_users, n_items=n_items, delta=base.target_delta,
                                accountant=base.accountant, bits=base.bits,
                                aggregator=aggregator if aggregator in ("plain", "secagg", "secagg+") else "secagg+")
    return replace(base, prior_releases=(release,))

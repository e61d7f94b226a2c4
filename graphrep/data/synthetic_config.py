"""Configuration of the synthetic Pinterest-like graph: :class:`SyntheticConfig` and presets.

Every knob of :func:`graphrep.data.synthetic.generate` lives here, with the
meaning of each field in the class docstring. ``scale`` multiplies the four
entity counts; event and edge counts are per-entity rates, so they scale with
it too. Presets:

=========  ======  ======  ======  =======  ==============  ==========================
preset     pins    boards  users   queries  forward edges   use
=========  ======  ======  ======  =======  ==============  ==========================
tiny       500     60      100     40       ~10k            unit tests (< 1 s)
default    50k     5k      10k     2k       ~1.5M           the main job (seconds)
large      2M      200k    400k    80k      ~60M            scale tests (minutes, < 24 GiB)
=========  ======  ======  ======  =======  ==============  ==========================
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from graphrep.errors import ConfigError

Mix = tuple[float, float, float]


@dataclass
class SyntheticConfig:
    """Parameters of the synthetic graph (see ``graphrep.data.synthetic`` for the model).

    Entity counts (each multiplied by ``scale``, at least 1):
        num_pins, num_boards, num_users, num_queries.

    Topics: ``num_coarse_topics * fine_per_coarse`` fine topics; fine topic ``t``
    belongs to coarse topic ``t // fine_per_coarse``. Fine topics are partitioned at
    random into look-alike groups of ``lookalike_group_size`` whose image
    centroids differ by only ``lookalike_jitter`` (1 = no look-alikes). Topic
    popularity is Zipf with exponent ``topic_zipf``; pins per topic are
    proportional to popularity ** ``topic_size_exponent``; pin popularity within a
    topic is Zipf with exponent ``pin_zipf``. ``cold_pin_fraction`` of the pins are
    created after the cut: no graph edges, engaged in the future window only.

    Content: pin ``image`` vectors (``image_dim``) are the topic centroid (unit
    norm) plus isotropic Gaussian noise of expected norm ``image_noise``. Text is
    token ids from a vocabulary of ``generic_vocab`` shared tokens, ``group_vocab``
    tokens per look-alike group and ``topic_vocab`` per fine topic; ``*_text_len``
    is the mean token count and ``*_text_mix`` the probabilities of drawing a
    (topic, look-alike group, generic) token.

    Time: ``num_days`` of activity; ``cut_fraction`` of the span is history (graph
    edges), the rest is the held-out future window.

    Users: ``interests_per_user`` (mean, at most ``max_interests``) fine topics,
    each extra interest within the first one's coarse topic with probability
    ``interest_same_coarse``. ``sessions_per_user`` sessions on average (at most
    ``max_sessions_per_user``), each of ``actions_per_session`` actions on average
    (at most ``max_actions_per_session``), ``action_gap_seconds`` apart. A
    session keeps the previous session's topic with probability
    ``session_stay``, adopts a new interest (replacing an old one) with
    probability ``session_new_interest``, else picks one of the current
    interests by weight. Each action is off the session's topic with
    probability ``session_noise``.

    Boards hold ``pins_per_board`` pins on average, off-topic with probability
    ``board_noise``, drawn with probability ∝ popularity ** ``board_popularity_exponent``
    (curation reaches further into the long tail than engagement). Queries get
    ``clicks_per_query`` clicks on average, query popularity Zipf with exponent
    ``query_zipf``, off-topic with probability ``query_noise``.
    """

    num_pins: int = 50_000
    num_boards: int = 5_000
    num_users: int = 10_000
    num_queries: int = 2_000
    scale: float = 1.0
    # topics and popularity
    num_coarse_topics: int = 20
    fine_per_coarse: int = 10
    lookalike_group_size: int = 2
    lookalike_jitter: float = 0.1
    topic_zipf: float = 0.8
    topic_size_exponent: float = 0.5
    pin_zipf: float = 1.1
    cold_pin_fraction: float = 0.1
    # content
    image_dim: int = 32
    image_noise: float = 1.2
    generic_vocab: int = 2000
    group_vocab: int = 30
    topic_vocab: int = 30
    pin_text_len: float = 6.0
    pin_text_mix: Mix = (0.1, 0.3, 0.6)
    board_text_len: float = 3.0
    board_text_mix: Mix = (0.4, 0.3, 0.3)
    query_text_len: float = 2.5
    query_text_mix: Mix = (0.6, 0.3, 0.1)
    # time
    num_days: int = 60
    cut_fraction: float = 0.8
    # users and sessions
    interests_per_user: float = 3.0
    max_interests: int = 6
    interest_same_coarse: float = 0.7
    sessions_per_user: float = 16.0
    max_sessions_per_user: int = 128
    session_stay: float = 0.6
    session_new_interest: float = 0.05
    session_noise: float = 0.1
    actions_per_session: float = 6.0
    max_actions_per_session: int = 40
    action_gap_seconds: float = 30.0
    # boards and queries
    pins_per_board: float = 30.0
    board_noise: float = 0.15
    board_popularity_exponent: float = 0.5
    clicks_per_query: float = 50.0
    query_zipf: float = 1.0
    query_noise: float = 0.1

    # ------------------------------------------------------------------ derived
    @property
    def num_fine_topics(self) -> int:
        return self.num_coarse_topics * self.fine_per_coarse

    @property
    def time_span(self) -> int:
        """Length of the simulated period in seconds."""
        return int(self.num_days) * 86_400

    @property
    def cut_time(self) -> int:
        """Timestamp splitting history (``< cut``) from the future window."""
        return int(self.time_span * self.cut_fraction)

    def counts(self) -> dict[str, int]:
        """Entity counts after ``scale``: ``{"pin": .., "board": .., "user": .., "query": ..}``."""
        return {
            nt: max(1, round(n * self.scale))
            for nt, n in (
                ("pin", self.num_pins),
                ("board", self.num_boards),
                ("user", self.num_users),
                ("query", self.num_queries),
            )
        }

    # ------------------------------------------------------------------ checks
    def validate(self) -> SyntheticConfig:
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"SyntheticConfig.{f.name}: expected an int, got {value!r}")
            if f.type == "float" and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ConfigError(
                    f"SyntheticConfig.{f.name}: expected a finite number, got {value!r}"
                )
        for name in (
            "num_pins",
            "num_boards",
            "num_users",
            "num_queries",
            "num_coarse_topics",
            "fine_per_coarse",
            "lookalike_group_size",
            "image_dim",
            "generic_vocab",
            "group_vocab",
            "topic_vocab",
            "num_days",
            "max_interests",
            "max_sessions_per_user",
            "max_actions_per_session",
        ):
            _check(self, name, getattr(self, name) >= 1, "expected an int >= 1")
        for name in ("scale", "pin_zipf", "image_noise", "pins_per_board", "clicks_per_query"):
            _check(self, name, getattr(self, name) > 0, "expected a number > 0")
        for name in (
            "topic_zipf",
            "topic_size_exponent",
            "query_zipf",
            "lookalike_jitter",
            "action_gap_seconds",
            "board_popularity_exponent",
        ):
            _check(self, name, getattr(self, name) >= 0, "expected a number >= 0")
        for name in (
            "cold_pin_fraction",
            "interest_same_coarse",
            "session_stay",
            "session_new_interest",
            "session_noise",
            "board_noise",
            "query_noise",
        ):
            _check(self, name, 0 <= getattr(self, name) <= 1, "expected a probability in [0, 1]")
        _check(self, "cold_pin_fraction", self.cold_pin_fraction < 1, "expected a fraction < 1")
        _check(self, "cut_fraction", 0 < self.cut_fraction < 1, "expected a fraction in (0, 1)")
        _check(
            self,
            "session_stay",
            self.session_stay + self.session_new_interest <= 1,
            "session_stay + session_new_interest must be <= 1",
        )
        for name in (
            "interests_per_user",
            "sessions_per_user",
            "actions_per_session",
            "pin_text_len",
            "board_text_len",
            "query_text_len",
        ):
            _check(self, name, getattr(self, name) >= 1, "expected a mean >= 1")
        for name in ("pin_text_mix", "board_text_mix", "query_text_mix"):
            mix = getattr(self, name)
            ok = (
                isinstance(mix, tuple | list)
                and len(mix) == 3
                and all(
                    isinstance(p, int | float) and not isinstance(p, bool) and p >= 0 for p in mix
                )
                and abs(sum(mix) - 1.0) < 1e-6
            )
            _check(
                self,
                name,
                ok,
                "expected 3 probabilities (topic, look-alike group, generic) summing to 1",
            )
        _check(
            self,
            "lookalike_group_size",
            self.lookalike_group_size <= self.num_fine_topics,
            f"expected at most num_coarse_topics * fine_per_coarse = {self.num_fine_topics}",
        )
        counts = self.counts()
        _check(
            self,
            "num_pins",
            counts["pin"] >= self.num_fine_topics,
            f"expected at least one pin per fine topic ({self.num_fine_topics}) after scale, "
            f"got {counts['pin']}",
        )
        _check(
            self, "num_pins", counts["pin"] < 2**31, "expected fewer than 2**31 pins after scale"
        )
        return self

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def _check(cfg: SyntheticConfig, name: str, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(f"SyntheticConfig.{name}: {expected}, got {getattr(cfg, name)!r}")


_DEFAULT = SyntheticConfig()

#: The synthetic graph's sizes by name (``tiny``, ``default``, ``large``).
#:
#: :meta hide-value:
PRESETS: dict[str, SyntheticConfig] = {
    "tiny": dataclasses.replace(
        _DEFAULT,
        num_pins=500,
        num_boards=60,
        num_users=100,
        num_queries=40,
        num_coarse_topics=4,
        fine_per_coarse=4,
        generic_vocab=200,
        group_vocab=10,
        topic_vocab=10,
        max_sessions_per_user=64,
        pins_per_board=15.0,
        clicks_per_query=20.0,
    ),
    "default": _DEFAULT,
    "large": dataclasses.replace(
        _DEFAULT,
        num_pins=2_000_000,
        num_boards=200_000,
        num_users=500_000,
        num_queries=80_000,
        num_coarse_topics=50,
        fine_per_coarse=20,
        generic_vocab=20_000,
        group_vocab=50,
        topic_vocab=50,
    ),
}


def preset_config(name: str, scale: float = 1.0, seed: int = 0) -> SyntheticConfig:
    """A copy of preset ``name`` with ``scale`` applied (validated).

    Args:
        name: one of :data:`PRESETS` (``"tiny"``, ``"default"``, ``"large"``).
        scale: multiplier of the entity (and thus event and edge) counts.
        seed: accepted for a uniform CLI signature; the seed is passed to
            :func:`~graphrep.data.synthetic.generate`, configs do not hold one.
    """
    del seed
    if name not in PRESETS:
        raise ConfigError(f"unknown synthetic preset {name!r}; expected one of {sorted(PRESETS)}")
    cfg = dataclasses.replace(PRESETS[name], scale=float(scale))
    return cfg.validate()


def resolve_config(config: SyntheticConfig | str) -> tuple[SyntheticConfig, str | None]:
    """A validated config and its preset name (None for a custom config)."""
    if isinstance(config, str):
        return preset_config(config), config
    if not isinstance(config, SyntheticConfig):
        raise ConfigError(
            "generate(config=...): expected a SyntheticConfig or a preset name, "
            f"got {type(config).__name__}"
        )
    name = next((k for k, v in PRESETS.items() if v == config), None)
    return config.validate(), name

"""Where a turn's time goes inside Rasa: cProfile over in-process turns, summed by stage.

Loads each model given (default models/latest.tar.gz) into a Rasa Agent with the
in-memory stores and no action server (custom actions fail fast and are skipped, so what
is measured is NLU and dialogue prediction, the CPU work a Rasa process does per turn),
runs the same Chinese and English messages through each, and prints per model: ms per
turn without the profiler, then the profiled share of each stage. Several models are
measured in the same run, one after another, so they can be compared.

With --speedups, each model is then measured again with `bot/speedups.py` installed, as
Kefu's Rasa processes run (bot.rasa_server); stock `rasa run` runs without it.

Usage: .venv/bin/python benchmarks/profile_turn.py [--model A.tar.gz --model B.tar.gz]
       [--rounds 10] [--top 0] [--speedups] [--conversation N]
       (--top N also prints the N costliest functions; --conversation N: N messages a
       conversation, one conversation after another, instead of three interleaved)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("ACTION_ENDPOINT_URL", "http://127.0.0.1:9/webhook")  # nothing listens
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.support import MODEL, TURN_MESSAGES  # noqa: E402

MESSAGES = TURN_MESSAGES
# (stage, module path fragment, function): cumulative time of these functions.
STAGES = [
    ("whole turn", "rasa/core/processor.py", "handle_message"),
    ("NLU: parse (all components)", "rasa/core/processor.py", "_parse_message_with_graph"),
    ("  tokenizer (Jieba)", "rasa/nlu/tokenizers/tokenizer.py", "process"),
    (
        "  count-vector featurizers",
        "rasa/nlu/featurizers/sparse_featurizer/count_vectors_featurizer.py",
        "process",
    ),
    ("  DIET intent classifier", "rasa/nlu/classifiers/diet_classifier.py", "process"),
    ("  FAQ response selector", "rasa/nlu/selectors/response_selector.py", "process"),
    ("dialogue: policy predictions", "rasa/core/processor.py", "_predict_next_with_tracker"),
    ("  TED policy", "rasa/core/policies/ted_policy.py", "predict_action_probabilities"),
    ("  rule policy", "rasa/core/policies/rule_policy.py", "predict_action_probabilities"),
    ("  memoization policy", "rasa/core/policies/memoization.py", "predict_action_probabilities"),
    (
        "  TensorFlow calls (both)",
        "tensorflow/python/eager/polymorphic_function/polymorphic_function.py",
        "__call__",
    ),
]


def quiet() -> None:
    logging.disable(logging.INFO)
    try:
        import structlog  # noqa: PLC0415 - Rasa logs its debug lines through structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    except ImportError:
        pass


async def turns(agent: object, rounds: int, prefix: str, length: int = 0) -> int:
    """`length` messages a conversation (0: three, interleaved four at a time)."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage  # noqa: PLC0415

    count = 0
    for r in range(rounds):
        for i, text in enumerate(MESSAGES):
            sender = f"{prefix}-{count // length}" if length else f"{prefix}-{r}-{i % 4}"
            await agent.handle_message(UserMessage(text, CollectingOutputChannel(), sender))  # type: ignore[attr-defined]
            count += 1
    return count


def stage_times(stats: pstats.Stats) -> dict[str, float]:
    found = dict.fromkeys((s[0] for s in STAGES), 0.0)
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for label, fragment, function in STAGES:
            if name == function and filename.endswith(fragment):
                found[label] += cumulative
    return found


async def measure(model: Path, name: str, rounds: int, top: int, length: int) -> None:
    from rasa.core.agent import Agent  # noqa: PLC0415 - heavy

    agent = Agent.load(str(model))
    await turns(agent, 1, "warm")
    began = time.perf_counter()
    count = await turns(agent, rounds, "plain", length)
    plain_ms = (time.perf_counter() - began) * 1000 / count
    profiler = cProfile.Profile()
    profiler.enable()
    profiled = await turns(agent, rounds, "prof", length)
    profiler.disable()
    stats = pstats.Stats(profiler)
    times = stage_times(stats)
    whole = times["whole turn"] or 1.0
    print(f"\n{name}: {plain_ms:.1f} ms a turn ({count} turns, no profiler)")
    for label, seconds in times.items():
        print(f"  {label:<32} {seconds * 1000 / profiled:7.1f} ms  {100 * seconds / whole:5.1f}%")
    if top:
        stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", type=Path)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--speedups", action="store_true", help="then again with bot/speedups.py")
    parser.add_argument("--conversation", type=int, default=0, help="messages a conversation")
    args = parser.parse_args()
    quiet()
    print(
        f"{len(MESSAGES)} messages x {args.rounds} rounds per model; load {os.getloadavg()[0]:.2f}"
    )
    models = args.model or [MODEL]
    for model in models:
        asyncio.run(measure(model, model.resolve().name, args.rounds, args.top, args.conversation))
    if args.speedups:
        from bot import speedups  # noqa: PLC0415 - imports Rasa

        speedups.install()
        for model in models:
            name = f"{model.resolve().name} with bot/speedups.py"
            asyncio.run(measure(model, name, args.rounds, args.top, args.conversation))


if __name__ == "__main__":
    main()

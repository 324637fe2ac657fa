"""Command line: ``python -m mnist_model {summary,train,evaluate,predict,experiment,receptive-field}``."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from pathlib import Path

from .engine.config import ARCHITECTURES, OPTIMIZERS, RECIPES
from .engine.jsonio import print_json

DEFAULT_OUT_DIR = Path("models")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    with _native_stderr_silenced():
        import tensorflow  # noqa: F401  (its C++ prints INFO lines at import, before logging is set up)
    try:
        return args.run(args, argv)
    except (ValueError, RuntimeError) as err:  # project errors carry user-facing messages
        print(f"error: {err}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for a moment; Python's own sys.stderr is untouched."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnist_model",
                                     description="Train, evaluate and query the MNIST convnet.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="print the layer table and parameter count")
    p.add_argument("--filters", type=int, nargs=3, default=(32, 64, 64), metavar="N",
                   help="output channels of conv_1, conv_2, conv_3 (default: 32 64 64)")
    p.add_argument("--dense", type=int, help="width of the hidden dense layer (convnet 64, dense 117)")
    p.add_argument("--arch", choices=ARCHITECTURES, default="convnet",
                   help="convnet: listing 5.1; dense: Flatten, one hidden Dense layer, softmax")
    p.set_defaults(run=cmd_summary)

    p = sub.add_parser("train", help="train a model and save it with its card")
    p.add_argument("--recipe", choices=RECIPES, default="seed",
                   help="seed: listing 5.1 as published; improved: augmentation, cosine schedule")
    p.add_argument("--epochs", type=int, help="passes over the data (seed 5, improved 20)")
    p.add_argument("--batch-size", type=int, help="images per step (default 64)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="seed: rmsprop, improved: adam")
    p.add_argument("--learning-rate", type=float, help="initial learning rate")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random shifts, rotations and zoom (improved recipe: on)")
    p.add_argument("--validation-split", type=float, help="fraction held out for validation")
    p.add_argument("--filters", type=int, nargs=3, metavar="N", help="conv channels (default 32 64 64)")
    p.add_argument("--arch", choices=ARCHITECTURES, default="convnet",
                   help="convnet: listing 5.1; dense: Flatten, one hidden Dense layer, softmax")
    p.add_argument("--dense", type=int, help="width of the hidden dense layer (convnet 64, dense 117)")
    p.add_argument("--limit", type=int, help="train on the first N images only")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--data", help="MNIST npz (default: $MNIST_NPZ, then data/mnist.npz)")
    p.add_argument("--out", help="model file to write (default: models/<recipe>[-dense].keras)")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="test loss and accuracy on the 10,000 test images")
    p.add_argument("--model", help="a .keras file (default: the bundled model)")
    p.add_argument("--data", help="MNIST npz (default: $MNIST_NPZ, then data/mnist.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("predict", help="classify images of handwritten digits")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files, any size")
    p.add_argument("--model", help="a .keras file (default: the bundled model)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.set_defaults(run=cmd_predict)

    experiment = sub.add_parser("experiment", help="the lab's experiments: shift invariance, data efficiency")
    kinds = experiment.add_subparsers(dest="experiment", required=True)
    p = kinds.add_parser("shift", help="test accuracy of the bundled convnet and dense network, digits shifted 0..8 px")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--data", help="MNIST npz (default: $MNIST_NPZ, then data/mnist.npz)")
    p.set_defaults(run=_lazy("lab.shift", "cli_shift"))
    p = kinds.add_parser("data-efficiency",
                         help="train both networks on 500 .. 60,000 images, test accuracy against training-set size")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--data", help="MNIST npz (default: $MNIST_NPZ, then data/mnist.npz)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="N",
                   help="training-set sizes (default 500 1000 2000 5000 10000 60000)")
    p.add_argument("--seeds", type=int, help="runs per size below the full set (default 3)")
    p.add_argument("--min-steps", type=int, help="gradient steps every run takes at least (default 2000)")
    p.add_argument("--out", help="also write the results JSON here (atomically)")
    p.set_defaults(run=_lazy("lab.data_efficiency", "cli_data_efficiency"))

    p = sub.add_parser("receptive-field", help="each layer's receptive field on the input and its jump")
    p.add_argument("--model", help="a .keras file (default: the bundled model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_lazy("lab.receptive_field", "cli_receptive_field"))
    return parser


def _lazy(module: str, function: str):
    """A subcommand whose code lives in its own module, imported only when it runs."""
    def run(args, argv) -> int:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{module}"), function)(args, argv)
    return run


def cmd_summary(args, argv) -> int:
    from .engine.config import TrainConfig
    from .engine.network import build_from_config, summary_text

    config = TrainConfig(filters=tuple(args.filters), architecture=args.arch,
                         dense_units=args.dense or _default_units(args.arch))
    print(summary_text(build_from_config(config)))
    return 0


def cmd_train(args, argv) -> int:
    from .engine.config import TrainConfig
    from .engine.storage import make_card, save_model
    from .engine.timeline import write_timeline
    from .engine.training import train

    config = TrainConfig.for_recipe(
        args.recipe, epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
        learning_rate=args.learning_rate, augment=args.augment,
        validation_split=args.validation_split, filters=args.filters, train_limit=args.limit,
        seed=args.seed, architecture=args.arch, dense_units=args.dense or _default_units(args.arch))
    suffix = "-dense" if args.arch == "dense" else ""
    out = Path(args.out or DEFAULT_OUT_DIR / f"{args.recipe}{suffix}.keras")
    print(f"Training ({config.recipe} recipe): {config.to_dict()}", flush=True)
    result = train(config, args.data, verbose=1)
    card = make_card(result, command="python -m mnist_model " + shlex.join(argv))
    save_model(result.model, out, card)
    write_timeline(result, out, args.data)
    print(f"test accuracy {result.test_accuracy:.4f}, test loss {result.test_loss:.4f}, "
          f"{result.seconds:.0f} s of training; saved {out}")
    return 0


def _default_units(arch: str) -> int:
    from .engine.network import DENSE_MATCHING_UNITS

    return DENSE_MATCHING_UNITS if arch == "dense" else 64


def cmd_evaluate(args, argv) -> int:
    from .engine.data import load_mnist
    from .engine.storage import PRETRAINED_MODEL, load_model
    from .lab.evaluation import confusion_table, evaluate_model

    path = Path(args.model or PRETRAINED_MODEL)
    result = evaluate_model(load_model(path), *load_mnist(args.data)[1])
    if args.json:
        print_json({**result.to_dict(), "model": str(path)})
    else:
        print(f"{path}: test accuracy {result.accuracy:.4f}, test loss {result.loss:.4f} on {result.n} images\n")
        print(confusion_table(result))
    return 0


def cmd_predict(args, argv) -> int:
    from .engine.inference import Predictor
    from .engine.preprocess import ImageError, load_image
    from .engine.storage import PRETRAINED_MODEL, load_model

    predictor = Predictor(load_model(args.model or PRETRAINED_MODEL))
    failures = 0
    for name in args.images:
        try:
            prepared = predictor.prepare(load_image(name))
        except ImageError as err:
            failures += 1
            if args.json:
                print_json({"file": name, "error": str(err)})
            else:
                print(f"{name}: error: {err}", file=sys.stderr)
            continue
        probs = predictor.probabilities(prepared.image) if prepared.image is not None else None
        digit = int(probs.argmax()) if probs is not None else None
        if args.json:
            print_json({"file": name, "digit": digit,
                        "probabilities": [round(float(p), 6) for p in probs] if probs is not None else [0.0] * 10})
        elif digit is None:
            print(f"{name}: no digit found (empty image)")
        else:
            print(f"{name}: {digit} ({probs[digit]:.1%})")
    return 1 if failures else 0

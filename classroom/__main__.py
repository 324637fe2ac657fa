"""Command line for teachers: ``python -m classroom {create,export}``.

``create`` prepares a class before the lesson and prints its code; ``export`` writes a
class's drawings as an npz in MNIST's layout with a CSV beside it. ``--db`` defaults to
the store the app uses: ``$CONVNET_LAB_DB``, else ``classroom.db`` in the project folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .db import ENV_VAR, ClassStoreError, connect, default_url
from .export import export_csv, export_npz
from .store import create_class, find_class


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        store = connect(args.db)
        try:
            return args.run(store, args)
        finally:
            store.close()
    except (ClassStoreError, OSError) as err:  # both carry messages meant for people
        print(f"error: {err}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m classroom", description="Prepare classes and export their digits.")
    sub = parser.add_subparsers(dest="command", required=True)
    db_help = f"the class store's database URL (default: ${ENV_VAR}, else {default_url()})"

    p = sub.add_parser("create", help="create a class and print its code")
    p.add_argument("name", help="the class's name, e.g. '7B maths'")
    p.add_argument("--db", help=db_help)
    p.set_defaults(run=cmd_create)

    p = sub.add_parser("export", help="write a class's drawings as FILE.npz (MNIST layout) and FILE.csv")
    p.add_argument("--class", dest="code", required=True, help="the class code")
    p.add_argument("--out", required=True, type=_npz_path, help="the .npz to write; the CSV goes beside it")
    p.add_argument("--force", action="store_true", help="overwrite the .npz and .csv if they exist")
    p.add_argument("--db", help=db_help)
    p.set_defaults(run=cmd_export)
    return parser


def _npz_path(text: str) -> Path:
    path = Path(text)
    if path.suffix != ".npz":
        raise argparse.ArgumentTypeError(f"--out must end in .npz, got {text!r}")
    return path


def cmd_create(store, args) -> int:
    print(create_class(store, args.name))
    return 0


def cmd_export(store, args) -> int:
    info = find_class(store, args.code, allow_closed=True)
    csv_path = args.out.with_suffix(".csv")
    existing = [str(path) for path in (args.out, csv_path) if path.exists()]
    if existing and not args.force:
        print(f"error: {' and '.join(existing)} already exist{'s' * (len(existing) == 1)}; nothing was written. "
              f"Choose another --out, or add --force to overwrite.", file=sys.stderr)
        return 2
    n = export_npz(store, info.code, args.out)
    export_csv(store, info.code, csv_path)
    print(f"{n} drawings of {info.name!r} ({info.code}) written to {args.out} and {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

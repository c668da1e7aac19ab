"""``qsa configs``: list the installed experiment configurations, print one, or copy them.

qsa configs                                  # name, what runs it, first comment line
qsa configs tfim/config.toml                 # print the file
qsa configs --copy my-configs                # every config, to my-configs/<study>/<file>.toml
qsa configs tfim kernels --copy my-configs   # two studies only (--force replaces existing files)
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run"]

#: Short name of what runs each kind of config (qsa.configs.KINDS has the full commands).
RUNNERS = {"train": "qsa train", "submit": "qsa submit", "gates": "gate_counts", "sweep": "qsa sweep"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qsa configs`` to the ``qsa`` command."""
    p = subparsers.add_parser(
        "configs",
        help="list, print or copy the experiment configs installed with qsa",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="a config (tfim/config.toml) or a study (tfim)")
    p.add_argument("--copy", metavar="DIR", help="copy the named configs (default: all) to DIR/<study>/<file>.toml")
    p.add_argument("--force", action="store_true", help="with --copy: replace files that exist")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qsa.configs import config_path, copy_configs, list_configs

    try:
        if args.copy is not None:
            for path in copy_configs(args.copy, args.names, overwrite=args.force):
                print(path)
            return 0
        texts = [config_path(name).read_text(encoding="utf-8") for name in args.names]
    except ValueError as exc:
        print(f"qsa configs: {exc}", file=sys.stderr)
        return 2
    if texts:
        sys.stdout.write("".join(texts))
        return 0
    configs = list_configs()
    width = max(len(c.name) for c in configs)
    print(f"{'name':<{width}}  {'run with':<12}  first comment line")
    for c in configs:
        print(f"{c.name:<{width}}  {RUNNERS[c.kind]:<12}  {c.summary}")
    print("\ncopy them: qsa configs --copy DIR; then e.g. qsa train DIR/tfim/config.toml")
    return 0

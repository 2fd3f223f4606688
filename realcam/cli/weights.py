"""`realcam weights download|check|path`: fetch the released files, report what is present, print the cache."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="download, check and locate the released model weights",
        description="Manage the released weights (DynamiCrafter base, RealCam-I2V camera plugin, Depth-Anything-V2 "
        "metric, OpenCLIP tokenizer) in the Hugging Face cache ($REALCAM_CACHE or $HF_HUB_CACHE).",
    )
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    for name, helptext in (
        ("download", "fetch the files for a model variant into the cache (honours HF_HUB_OFFLINE)"),
        ("check", "report which files are present, their sizes, and strict key coverage per component"),
        ("path", "print the cache folder and each file's path (or, if missing, the hub file and where it would go)"),
    ):
        action = sub.add_parser(name, help=helptext, description=helptext)
        action.add_argument("--model", choices=("256", "512"), default="256", help="model resolution (default 256)")
        action.add_argument(
            "--depth", choices=("indoor", "outdoor"), default="indoor", help="metric depth model (default indoor)"
        )
        action.add_argument("--cache", default=None, help="cache folder (default: $REALCAM_CACHE or the HF cache)")
        action.add_argument(
            "--only",
            nargs="+",
            choices=("base", "camera", "depth", "tokenizer"),
            default=None,
            metavar="PART",
            help="just these parts: base (DynamiCrafter, ~10 GB), camera (RealCam-I2V plugin), depth (~1.3 GB), "
            "tokenizer; e.g. `--only depth` for `realcam data align-scale` or `realcam edit` (default: all)",
        )
        if name == "check":
            action.add_argument(
                "--no-keys", action="store_true", help="skip reading the files' keys (fast presence check only)"
            )
        action.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from realcam.checkpoints import hub

    cache = Path(args.cache).expanduser() if args.cache else hub.cache_dir()
    files = hub.files_for(args.model, args.depth, args.only)
    if args.weights_command == "download":
        for file in files:
            print(f"fetching {file.repo_id}/{file.filename} (~{file.approx_size_gb:g} GB) ...", flush=True)
            path = hub.download(file, cache=cache)
            print(f"  -> {path}")
        return 0
    if args.weights_command == "path":
        return _path(files, cache, args)
    return _check(files, cache, args)


def _path(files, cache, args) -> int:
    """KEY<TAB>PATH per file; a missing file shows the hub file and the cache path it would get when downloaded."""
    from realcam.checkpoints import hub

    print(cache)
    missing = 0
    for file in files:
        path = hub.locate(file, cache=cache)
        if path is None:
            missing += 1
            where = hub.cache_location(file, cache=cache)
            print(f"{file.key}\tmissing: {file.repo_id}/{file.filename} would be downloaded to {where}")
        else:
            print(f"{file.key}\t{path}")
    if missing:
        print(f"{missing} file(s) missing: run `{hub.download_command(args.model, args.depth, args.only)}`")
    return 0


def _check(files, cache, args) -> int:
    from realcam.checkpoints import hub

    missing = 0
    paths = {}
    print(f"cache: {cache}")
    for file in files:
        path = hub.locate(file, cache=cache)
        if path is None:
            missing += 1
            print(f"  MISSING  {file.key:14s} {file.repo_id}/{file.filename}")
        else:
            paths[file.key] = path
            print(f"  ok       {file.key:14s} {path.stat().st_size / 1e9:7.3f} GB  {path}")
    if not args.no_keys and not missing:
        from realcam.checkpoints.coverage import coverage_report

        text, complete = coverage_report(args.model, paths, depth=args.depth)
        print(text)
        if not complete:
            return 1
    if missing:
        print(f"{missing} file(s) missing: run `{hub.download_command(args.model, args.depth, args.only)}`")
        return 1
    return 0

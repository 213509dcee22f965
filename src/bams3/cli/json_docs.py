"""``bams3 json get PATH`` / ``bams3 json put [PATH]``: JSON documents on disk or in S3."""
from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Read or write a JSON document at a local path, file:// or s3:// URL.

  bams3 json get PATH                 print the document (indented) on stdout
  bams3 json put PATH < doc.json      write stdin (checked to be JSON) to PATH
  bams3 json put --name NAME < doc    write under the scratch prefix and print where:
                                      PREFIX/NAME/<time>-<random>.json; without --name the
                                      first 16 hex digits of the content's SHA-256 stand in"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "json",
        help="read (get) or write (put) a JSON document at a local or s3:// path",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="json_action", metavar="ACTION")
    actions.required = True

    get = actions.add_parser("get", help="print the JSON document at PATH",
                             description="Print the JSON document at PATH (local, file:// or s3://) on stdout.")
    get.add_argument("path", metavar="PATH")
    get.add_argument("--compact", action="store_true", help="print on one line")
    get.set_defaults(func=run_get)

    put = actions.add_parser(
        "put", help="write stdin as the JSON document at PATH, or under the scratch prefix",
        description="Write the JSON document read from stdin (or --input) to PATH, atomically. Without PATH "
                    "it goes under the scratch prefix (--scratch-prefix or $BAMS3_SCRATCH_PREFIX) with a "
                    "unique key, create-only. The path written is printed on stdout.")
    put.add_argument("path", nargs="?", metavar="PATH", help="where to write (omit for a scratch key)")
    put.add_argument("-i", "--input", default="-", help="read the document from this file (default: stdin)")
    put.add_argument("--name", help="scratch key name (default: the content hash)")
    put.add_argument("--scratch-prefix", metavar="PREFIX",
                     help="scratch location, local or s3:// (default: $BAMS3_SCRATCH_PREFIX)")
    put.add_argument("--if-absent", action="store_true",
                     help="fail if PATH already exists instead of replacing it")
    put.set_defaults(func=run_put)


def run_get(args: argparse.Namespace) -> int:
    import json

    from ..jsondocs import dump_json, get_json

    document = get_json(args.path)
    if args.compact:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
    else:
        sys.stdout.buffer.write(dump_json(document))
    sys.stdout.flush()
    return 0


def _read_input(source: str) -> bytes:
    from ..errors import ObjectNotFoundError

    if source == "-":
        return sys.stdin.buffer.read()
    try:
        with open(source, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise ObjectNotFoundError(f"{source}: no such file") from exc


def run_put(args: argparse.Namespace) -> int:
    from ..jsondocs import JsonPutRequest, handle_put, parse_json

    where = "stdin" if args.input == "-" else args.input
    document = parse_json(_read_input(args.input), where=where)
    response = handle_put(JsonPutRequest(document, path=args.path, name=args.name,
                                         scratch_prefix=args.scratch_prefix, if_absent=args.if_absent))
    print(response.path)
    return 0

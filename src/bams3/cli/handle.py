"""``bams3 handle NAME --event event.json``: run one serverless handler locally.

The handler gets the event exactly as AWS Lambda would hand it over and prints the
response envelope it would return (``{"success": ..., "result" | "error": ...}``), so an
event can be tried on a laptop against real data before it is sent to a function.
"""
from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Run the handler NAME on the JSON event in FILE (local, s3://, or - for stdin) and print
its response envelope: {"success": true, "result": {...}} or {"success": false,
"error": {"type": ..., "message": ...}}. The handlers are the functions a Lambda
function or a service runs (bams3.handlers.<name>.lambda_handler); they call the same
library code as the other verbs. docs/HANDLERS.md describes every request and result.

Exit status: 0 on success, 1 when the operation failed, 2 when the event is not a valid
request (the envelope says which field and why)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..handlers import HANDLER_MODULES  # light: a name table, no handler is imported

    parser = subparsers.add_parser(
        "handle",
        help="run a serverless handler (region-count, stage, sync, ...) locally on a JSON event",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", metavar="NAME", choices=list(HANDLER_MODULES),
                        help=f"the handler: {', '.join(HANDLER_MODULES)}")
    parser.add_argument("-e", "--event", metavar="FILE", help="the event JSON: a file, s3:// URL, or - for stdin")
    parser.add_argument("-o", "--output", default="-", metavar="FILE",
                        help="write the response there instead of stdout (local or s3://)")
    parser.add_argument("--list", action="store_true", help="list the handlers and what they do")
    parser.add_argument("--schema", choices=["request", "response"],
                        help="print the JSON Schema of NAME's request or response instead of running it")
    parser.set_defaults(func=run)


def _read_event(source: str) -> object:
    from ..jsondocs import get_json, parse_json

    if source == "-":
        return parse_json(sys.stdin.buffer.read(), where="stdin")
    return get_json(source)


def _write(document: object, target: str) -> None:
    from ..jsondocs import dump_json, put_json

    if target == "-":
        sys.stdout.buffer.write(dump_json(document))
        sys.stdout.flush()
    else:
        put_json(target, document)


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..handlers import get_handler, handler_names

    if args.list:
        for name in handler_names():
            print(f"{name:<20} {get_handler(name).summary}")
        return 0
    if args.name is None:
        raise UsageError("name a handler (bams3 handle --list shows them)")
    handler = get_handler(args.name)
    if args.schema:
        from ..handlers.schemas import schema_documents

        _write(schema_documents()[f"{args.name}.{args.schema}.json"], args.output)
        return 0
    if args.event is None:
        raise UsageError(f"bams3 handle {args.name} needs --event FILE (or - for stdin)")
    response = handler.invoke(_read_event(args.event))
    _write(response, args.output)
    if response["success"]:
        return 0
    return 2 if response["error"]["type"] == "ValidationError" else 1

"""The ``sipmeet`` command: run the server, manage API keys, SIP credentials, rooms and tokens.

Every command reads the same settings as the server (flags, ``SIPMEET_*`` variables, the TOML
file from ``--config`` or ``SIPMEET_CONFIG``) and works on the database directly, also while the
server runs. Exit codes: 0 success, 1 failure (with a message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sipmeet.config import ConfigError, Settings, load_settings, reference_markdown, setting_specs

if TYPE_CHECKING:
    from sipmeet.storage import RoomRecord, Store
    from sipmeet.storage.records import PhoneNumber

__all__ = ["build_parser", "main"]

log = logging.getLogger(__name__)

_SETTING_DEST = "setting__"


class CommandError(Exception):
    """A failure to report on stderr with exit code 1."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _settings_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group(
        "settings", "the server's settings (see `sipmeet config reference`)"
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="TOML settings file (also SIPMEET_CONFIG)",
    )
    for spec in setting_specs():
        if spec.flag is None:
            continue
        dest = _SETTING_DEST + spec.key
        help_text = f"{spec.doc} [{spec.env}]"
        if spec.type is bool:
            group.add_argument(
                spec.flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            metavar = spec.name.upper() if spec.section is None else spec.key.split(".")[1].upper()
            group.add_argument(
                spec.flag, dest=dest, metavar=metavar, default=argparse.SUPPRESS, help=help_text
            )
    return parent


def build_parser() -> argparse.ArgumentParser:
    common = _settings_parent()
    parser = argparse.ArgumentParser(
        prog="sipmeet",
        description="Phone callers join WebRTC meeting rooms by SIP address.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        help_text: str,
        handler: Callable[[argparse.Namespace, Settings], int],
        *,
        json_flag: bool = False,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(handler=handler)
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print JSON")
        return sub

    def branch(name: str, help_text: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        return sub.add_subparsers(dest="action", metavar="ACTION", required=True)

    leaf(commands, "serve", "run the SIP, media and HTTP servers", _serve)
    leaf(commands, "migrate", "create or upgrade the database schema", _migrate)

    keys = branch("keys", "manage API keys")
    sub = leaf(keys, "create", "create an API key", _keys_create, json_flag=True)
    sub.add_argument("--name", required=True, help="a name for people")
    sub.add_argument("--enable-sip", action="store_true", help="also create SIP credentials")
    leaf(keys, "list", "list API keys", _keys_list, json_flag=True)
    sub = leaf(keys, "delete", "delete an API key with its rooms and credentials", _keys_delete)
    sub.add_argument("key", metavar="KEY")

    sip = branch("sip", "manage the SIP credentials of an API key")
    for action, help_text, handler in (
        ("enable", "enable SIP (prints the credentials)", _sip_enable),
        ("rotate", "issue a new SIP password", _sip_rotate),
        ("disable", "disable SIP", _sip_disable),
        ("show", "show the SIP credentials", _sip_show),
    ):
        sub = leaf(sip, action, help_text, handler, json_flag=True)
        sub.add_argument("key", metavar="KEY")
        if action == "rotate":
            sub.add_argument(
                "--grace-seconds",
                type=int,
                default=0,
                metavar="N",
                help="the old password keeps working for N seconds (default: stops at once)",
            )

    rooms = branch("rooms", "manage meeting rooms")
    sub = leaf(rooms, "create", "create a room", _rooms_create, json_flag=True)
    sub.add_argument("--api-key", required=True, metavar="KEY")
    sub.add_argument("--room-id", metavar="ID", help="choose the id (default: a random one)")
    sub.add_argument(
        "--pin", metavar="DIGITS", help="a PIN the dial-in menu asks for (4-12 digits)"
    )
    sub = leaf(rooms, "list", "list rooms", _rooms_list, json_flag=True)
    sub.add_argument("--api-key", metavar="KEY", help="only this key's rooms")
    sub = leaf(rooms, "deactivate", "deactivate a room", _rooms_deactivate)
    sub.add_argument("room_id", metavar="ROOM_ID")

    sub = leaf(commands, "token", "print an access token (JWT) for an API key", _token)
    sub.add_argument("--api-key", required=True, metavar="KEY")
    sub.add_argument("--room-id", metavar="ID", help="limit the token to one room")
    sub.add_argument("--ttl", type=_positive_int, default=3600, metavar="SECONDS")
    sub.add_argument("--mod", action="store_true", help="grant moderator rights")

    numbers = branch("numbers", "route phone numbers at trunk providers to rooms")
    sub = leaf(numbers, "add", "route a phone number to a room", _numbers_add, json_flag=True)
    sub.add_argument("number", metavar="NUMBER", help="E.164, like +14155550100")
    sub.add_argument("--api-key", required=True, metavar="KEY")
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("--room", metavar="ROOM_ID", help="the room callers join")
    target.add_argument("--ivr", action="store_true", help="the dial-in menu instead of a room")
    sub.add_argument("--provider", required=True, choices=("twilio", "telnyx", "plivo"))
    sub.add_argument(
        "--auth-token",
        metavar="TOKEN",
        help="checks the provider's webhook signatures: the Twilio or Plivo auth token, "
        "or the Telnyx public key (base64); without it the webhook refuses the number's calls",
    )
    sub = leaf(numbers, "list", "list phone numbers", _numbers_list, json_flag=True)
    sub.add_argument("--api-key", metavar="KEY", help="only this key's numbers")
    sub = leaf(numbers, "remove", "remove a phone number", _numbers_remove, json_flag=True)
    sub.add_argument("number", metavar="NUMBER")
    sub.add_argument("--provider", choices=("twilio", "telnyx", "plivo"), help="only at this one")

    config = branch("config", "inspect the configuration")
    leaf(config, "reference", "print the configuration reference (Markdown)", _config_reference)
    leaf(config, "show", "print the effective settings as JSON", _config_show)
    return parser


# --- settings ------------------------------------------------------------------------------


def _settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    overrides: dict[str, str] = {}
    for dest, value in vars(args).items():
        if dest.startswith(_SETTING_DEST):
            text = str(value).lower() if isinstance(value, bool) else str(value)
            overrides[dest[len(_SETTING_DEST) :]] = text
    config = getattr(args, "config", None)
    return load_settings(overrides, environ, Path(config) if config else None)


def _open_store(settings: Settings) -> Store:
    from sipmeet.storage import Store  # the database stack loads only for commands that use it

    return Store.open(settings)


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def _sip_uri(room_id: str, settings: Settings) -> str:
    return f"sip:{room_id}@{settings.sip.domain}"


# --- commands ------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from sipmeet.app import run
    except ModuleNotFoundError as exc:
        if exc.name != "sipmeet.app":
            raise
        raise CommandError("the server is not part of this installation (no sipmeet.app)") from None
    return run(settings)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        print(f"database schema at revision {store.schema_revision()}")
    return 0


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        key = store.create_api_key(args.name, enable_sip=args.enable_sip)
    out: dict[str, object] = {"apiKey": key.id, "secret": key.secret}
    if key.sip is not None:
        out["sip"] = {"username": key.sip.username, "password": key.sip.password}
    if args.json:
        _print_json(out)
        return 0
    print(f"API key:  {key.id}")
    print(f"Secret:   {key.secret}")
    if key.sip is not None:
        _print_sip_human(key.sip.username, key.sip.password, settings)
    return 0


def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        keys = store.list_api_keys()
    if args.json:
        _print_json(
            [
                {
                    "apiKey": k.id,
                    "name": k.name,
                    "createdAt": k.created_at.isoformat(),
                    "sip": {"username": k.sip.username} if k.sip is not None else None,
                }
                for k in keys
            ]
        )
        return 0
    if not keys:
        print("no API keys (create one with: sipmeet keys create --name NAME)")
        return 0
    rows = [("API KEY", "CREATED", "SIP USERNAME", "NAME")]
    rows += [
        (k.id, k.created_at.strftime("%Y-%m-%d %H:%M"), k.sip.username if k.sip else "-", k.name)
        for k in keys
    ]
    _print_table(rows)
    return 0


def _keys_delete(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        if not store.delete_api_key(args.key):
            raise CommandError(f"no such API key: {args.key}")
    print(f"deleted API key {args.key}")
    return 0


def _print_sip_human(username: str, password: str, settings: Settings) -> None:
    print(f"SIP username: {username}")
    print(f"SIP password: {password}")
    print(f"SIP domain:   {settings.sip.domain} (dial sip:<room-id>@{settings.sip.domain})")


def _print_credentials(args: argparse.Namespace, username: str, password: str, s: Settings) -> int:
    if args.json:
        _print_json({"username": username, "password": password})
    else:
        _print_sip_human(username, password, s)
    return 0


def _sip_enable(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        creds = store.enable_sip(args.key)
    return _print_credentials(args, creds.username, creds.password, settings)


def _sip_rotate(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        if args.grace_seconds < 0:
            raise CommandError("--grace-seconds must not be negative")
        creds = store.rotate_sip(args.key, grace_s=args.grace_seconds)
    return _print_credentials(args, creds.username, creds.password, settings)


def _sip_show(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        if store.get_api_key(args.key) is None:
            raise CommandError(f"no such API key: {args.key}")
        creds = store.sip_credentials(args.key)
    if creds is None:
        raise CommandError(f"SIP is not enabled for API key {args.key}")
    return _print_credentials(args, creds.username, creds.password, settings)


def _sip_disable(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        store.disable_sip(args.key)
    if args.json:
        _print_json({"apiKey": args.key, "sip": None})
    else:
        print(f"SIP disabled for API key {args.key}")
    return 0


def _room_json(room: RoomRecord, settings: Settings) -> dict[str, object]:
    return {
        "roomId": room.room_id,
        "apiKey": room.api_key_id,
        "active": room.active,
        "createdAt": room.created_at.isoformat(),
        "sipUri": _sip_uri(room.room_id, settings),
    }


def _rooms_create(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        room = store.create_room(args.api_key, args.room_id, pin=args.pin)
    uri = _sip_uri(room.room_id, settings)
    if args.json:
        _print_json({"roomId": room.room_id, "sipUri": uri, "dialinCode": room.dialin_code})
    else:
        print(f"Room:         {room.room_id}")
        print(f"SIP URI:      {uri}")
        print(f"Dial-in code: {room.dialin_code}")
    return 0


def _rooms_list(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        if args.api_key is not None and store.get_api_key(args.api_key) is None:
            raise CommandError(f"no such API key: {args.api_key}")
        rooms = store.list_rooms(args.api_key)
    if args.json:
        _print_json([_room_json(room, settings) for room in rooms])
        return 0
    if not rooms:
        print("no rooms")
        return 0
    rows = [("ROOM", "API KEY", "STATE", "SIP URI")]
    rows += [
        (
            r.room_id,
            r.api_key_id,
            "active" if r.active else "inactive",
            _sip_uri(r.room_id, settings),
        )
        for r in rooms
    ]
    _print_table(rows)
    return 0


def _rooms_deactivate(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        if not store.deactivate_room(args.room_id):
            raise CommandError(f"no such room: {args.room_id}")
    print(f"deactivated room {args.room_id.strip().lower()}")
    return 0


def _number_json(number: PhoneNumber, settings: Settings) -> dict[str, object]:
    return {
        "number": number.number,
        "provider": number.provider,
        "apiKey": number.api_key_id,
        "roomId": number.room_id,
        "ivr": number.ivr,
        "hasAuthToken": number.auth_token is not None,
        "webhookUrl": f"{settings.public_url.rstrip('/')}/providers/{number.provider}/voice",
        "createdAt": number.created_at.isoformat(),
    }


def _numbers_add(args: argparse.Namespace, settings: Settings) -> int:
    if args.provider == "telnyx" and args.auth_token is not None:
        from sipmeet.providers.telnyx import telnyx_public_key_valid

        if not telnyx_public_key_valid(args.auth_token):
            raise CommandError("for Telnyx, --auth-token is the account's public key (base64)")
    with _open_store(settings) as store:
        number = store.add_number(
            args.number,
            api_key_id=args.api_key,
            provider=args.provider,
            room_id=args.room,
            ivr=args.ivr,
            auth_token=args.auth_token,
        )
    shown = _number_json(number, settings)
    if args.json:
        _print_json(shown)
        return 0
    print(f"Number:      {number.number} ({number.provider})")
    print(f"Goes to:     {number.room_id or 'the dial-in menu'}")
    print(f"Webhook URL: {shown['webhookUrl']} (POST)")
    if number.auth_token is None:
        print("Warning: no --auth-token; the webhook refuses calls it cannot verify")
    return 0


def _numbers_list(args: argparse.Namespace, settings: Settings) -> int:
    with _open_store(settings) as store:
        if args.api_key is not None and store.get_api_key(args.api_key) is None:
            raise CommandError(f"no such API key: {args.api_key}")
        numbers = store.list_numbers(args.api_key)
    if args.json:
        _print_json([_number_json(n, settings) for n in numbers])
        return 0
    if not numbers:
        print("no phone numbers")
        return 0
    rows = [("NUMBER", "PROVIDER", "API KEY", "GOES TO", "SIGNED")]
    rows += [
        (
            n.number,
            n.provider,
            n.api_key_id,
            n.room_id or "dial-in menu",
            "yes" if n.auth_token is not None else "no",
        )
        for n in numbers
    ]
    _print_table(rows)
    return 0


def _numbers_remove(args: argparse.Namespace, settings: Settings) -> int:
    from sipmeet.storage.store import normalize_e164

    number = normalize_e164(args.number) or args.number
    with _open_store(settings) as store:
        removed = store.remove_number(args.number, args.provider)
    if not removed:
        raise CommandError(f"no such phone number: {args.number}")
    if args.json:
        _print_json({"number": number, "removed": removed})
    else:
        print(f"removed {number} ({removed} route{'s' if removed != 1 else ''})")
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from sipmeet.auth_tokens import create_token

    with _open_store(settings) as store:
        key = store.get_api_key(args.api_key)
        if key is None:
            raise CommandError(f"no such API key: {args.api_key}")
        room_id = None
        if args.room_id is not None:
            room = store.get_room(args.room_id)
            if room is None:
                raise CommandError(f"no such room: {args.room_id}")
            if room.api_key_id != key.id:
                raise CommandError(f"room {room.room_id} belongs to another API key")
            room_id = room.room_id
    print(create_token(key.id, key.secret, room_id=room_id, ttl_s=args.ttl, moderator=args.mod))
    return 0


def _config_reference(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(reference_markdown())
    return 0


def _config_show(args: argparse.Namespace, settings: Settings) -> int:
    shown: dict[str, object] = {}
    for spec in setting_specs():
        target: object = settings
        for part in spec.key.split("."):
            target = getattr(target, part)
        if spec.secret:
            target = None if target is None else "(set)"
        elif not isinstance(target, bool | int | type(None)):
            target = str(target)
        shown[spec.key] = target
    _print_json(shown)
    return 0


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# --- entry point ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``sipmeet`` command; returns the exit code (never raises for user errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        settings = _settings_from(args, os.environ)
    except ConfigError as exc:
        print(f"sipmeet: error: {exc}", file=sys.stderr)
        return 2

    from sipmeet.logs import setup_logging

    debug = settings.log.level == "debug"
    serving = args.command == "serve"
    root = logging.getLogger()
    previous_level = root.level
    level = settings.log.level if serving or debug else "warning"
    handler = setup_logging(level, settings.log.format)
    try:
        return int(args.handler(args, settings))
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        print(f"sipmeet: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from sipmeet.storage import StorageError

        if isinstance(exc, StorageError):
            print(f"sipmeet: error: {exc}", file=sys.stderr)
        else:
            if serving:
                log.critical("server stopped by an unexpected error", exc_info=exc)
            print(f"sipmeet: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            if debug:
                traceback.print_exception(exc, file=sys.stderr)
        return 1
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


if __name__ == "__main__":
    sys.exit(main())

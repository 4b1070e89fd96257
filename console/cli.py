"""Command line: the GUI (default), `serve`, `calls`, `export`, `simulate`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from console import __version__

__all__ = ["main"]


def _engine_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port for the stream server (default 8765)")
    p.add_argument("--data-dir", help="where calls are kept")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", help="stream token providers must present")
    auth.add_argument("--no-auth", action="store_true", default=None,
                      help="accept streams without a token (warns)")
    p.add_argument("--public-url", help="the wss:// URL providers connect to (Twilio signs it)")
    p.add_argument("--twilio-auth-token", help="Twilio auth token, to check X-Twilio-Signature")
    p.add_argument("--config", help="config file (default: under the XDG config dir)")
    p.add_argument("--scorecard", dest="scorecard_file", metavar="TOML",
                   help="the checklist calls are scored against (default: the shipped one)")


def _bus_flags(p: argparse.ArgumentParser, required: bool = False) -> None:
    g = p.add_argument_group("team bus (NATS JetStream)")
    g.add_argument("--bus", dest="bus_url", required=required, metavar="URL",
                   help="the team's bus: nats://user:password@host:4222, nats://TOKEN@host:4222 "
                        "or tls://... (credentials may also come from the options below)")
    g.add_argument("--bus-user", help="bus user (instead of putting it in the URL)")
    g.add_argument("--bus-password", help="bus password")
    g.add_argument("--bus-token", help="bus token")
    g.add_argument("--bus-creds", metavar="FILE", help="a NATS credentials (.creds) file")
    g.add_argument("--bus-ca", dest="bus_tls_ca", metavar="PEM",
                   help="CA certificate that signed the bus's TLS certificate")
    g.add_argument("--bus-cert", dest="bus_tls_cert", metavar="PEM",
                   help="client certificate, when the bus asks for one")
    g.add_argument("--bus-key", dest="bus_tls_key", metavar="PEM", help="its key")
    g.add_argument("--team", help="team name on the bus (default: team)")
    g.add_argument("--supervisor", dest="supervisor_name", metavar="NAME",
                   help="your name in every call's audit trail (default: your user name)")


_BUS_FIELDS = ("bus_url", "bus_user", "bus_password", "bus_token", "bus_creds", "bus_tls_ca",
               "bus_tls_cert", "bus_tls_key", "team", "supervisor_name", "node_name",
               "tls_cert", "tls_key")


def _data_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="where calls are kept")
    p.add_argument("--config", help="config file (default: under the XDG config dir)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coach-console",
        description="Supervisor console for live call coaching. With no command, opens the "
                    "console window.")
    parser.add_argument("--version", action="version", version=f"coach-console {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    _engine_flags(parser)
    _bus_flags(parser)
    parser.add_argument("--demo", action="store_true",
                        help="also play simulated calls so there is something to see")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the engine without a window")
    _engine_flags(serve)
    serve.add_argument("--record", action="store_true", default=None,
                       help="keep each call's audio for WAV export")
    serve.add_argument("--no-transcribe", dest="transcribe", action="store_false", default=None,
                       help="no speech recognition (audio, DTMF and call events only)")
    serve.add_argument("--translate", choices=("en", "off"), default=None,
                       help="transcribe speakers of other languages and translate them into "
                            "English live (Whisper base; COACH_CONSOLE_TRANSLATE=en)")
    serve.add_argument("--no-redaction", dest="redaction", action="store_false", default=None,
                       help="keep card numbers, SSNs, digit runs and keypad entry as said")
    serve.add_argument("--tls-cert", metavar="PEM",
                       help="serve wss:// with this certificate chain (with --tls-key)")
    serve.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    cc = serve.add_argument_group(
        "Telnyx Call Control", "optional; the API key comes from COACH_CONSOLE_TELNYX_API_KEY "
        "or the config file, never a flag (flags show in the process list)")
    cc.add_argument("--telnyx-public-key", metavar="BASE64",
                    help="the account's webhook public key: turns the webhook endpoint on")
    cc.add_argument("--webhook-port", type=int, metavar="PORT",
                    help="where Telnyx's webhooks are served (default 8766; 0: any free port)")
    cc.add_argument("--stream-on-answer", choices=("incoming", "all", "off"),
                    help="answered calls that get a stream (default: incoming)")
    _bus_flags(serve)
    serve.add_argument("--node", dest="node_name", metavar="NAME",
                       help="this ingest node's name on the bus (default: the host name)")

    calls = sub.add_parser("calls", help="list calls, newest first")
    _data_flag(calls)
    calls.add_argument("--json", action="store_true", help="JSON output")
    calls.add_argument("--since", help="only calls started on/after (YYYY-MM-DD[THH:MM] or "
                                       "e.g. 7d, 12h)")
    calls.add_argument("--until", help="only calls started before (YYYY-MM-DD[THH:MM])")
    calls.add_argument("--limit", type=int, help="at most this many")
    calls.add_argument("--search", metavar="TEXT",
                       help="only calls whose transcript has these words (full-text)")
    _bus_flags(calls)

    export = sub.add_parser("export", help="export calls as files")
    _data_flag(export)
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("call_id", nargs="?", help="call id (or a unique prefix, or stream id)")
    which.add_argument("--all", action="store_true", help="every call")
    export.add_argument("--format", required=True,
                        choices=["txt", "json", "srt", "vtt", "csv", "wav"])
    export.add_argument("-o", "--output", help="file (one call) or folder (--all); "
                                               "JSON defaults to standard output")
    _bus_flags(export)

    listen = sub.add_parser("listen", help="what the supervisor hears of a live call, as a WAV "
                                           "(team bus)")
    listen.add_argument("call_id")
    listen.add_argument("--seconds", type=float, required=True, help="how long to listen")
    listen.add_argument("-o", "--output", required=True, help="the WAV file to write")
    listen.add_argument("--config", help="config file (default: under the XDG config dir)")
    _bus_flags(listen, required=True)

    whisper = sub.add_parser("whisper", help="play a WAV file to a live call's agent as the "
                                             "supervisor's voice (team bus)")
    whisper.add_argument("call_id")
    whisper.add_argument("--wav", required=True, help="the WAV file to play")
    whisper.add_argument("--barge", action="store_true",
                         help="to both parties instead of the agent alone")
    whisper.add_argument("--config", help="config file (default: under the XDG config dir)")
    _bus_flags(whisper, required=True)

    arch = sub.add_parser("archive", help="keep the team's history in one store (team bus)")
    arch.add_argument("--data-dir", help="the store's folder (calls/export --data-dir read it)")
    arch.add_argument("--config", help="config file (default: under the XDG config dir)")
    _bus_flags(arch, required=True)

    bus = sub.add_parser("bus", help="run the team's bus (nats-server with JetStream)")
    bus.add_argument("--port", type=int, default=4222)
    bus.add_argument("--host", default="0.0.0.0", help="bind address (default all)")
    bus.add_argument("--store", help="where JetStream keeps the team's log (default: under "
                                     "the data folder)")
    bus.add_argument("--user")
    bus.add_argument("--password")
    bus.add_argument("--token", help="(default: one made and kept in the store folder)")
    bus.add_argument("--tls-cert", metavar="PEM", help="serve the bus over TLS")
    bus.add_argument("--tls-key", metavar="PEM")

    sub.add_parser("self-test", help="check that every part works on this machine (headless)")

    sim = sub.add_parser("simulate", help="play simulated calls into a console")
    sim.add_argument("--url", required=True, help="the console's stream URL")
    sim.add_argument("--provider", default="telnyx",
                     choices=["telnyx", "twilio", "plivo", "exotel", "vonage", "signalwire",
                              "bandwidth"],
                     help="the platform whose frames to play (console/sim/platforms.py)")
    sim.add_argument("--calls", type=int, default=1)
    sim.add_argument("--token", default="", help="stream token")
    sim.add_argument("--ca", default="", metavar="FILE",
                     help="CA certificate (PEM) to trust for a wss:// console")
    sim.add_argument("--twilio-auth-token", default="", help="sign as Twilio with this token")
    sim.add_argument("--codec", default="",
                     choices=["PCMU", "PCMA", "L16", "G722", "OPUS"],
                     help="stream codec, as far as the platform offers it (default: the "
                          "platform's own: L16 on Plivo, Exotel and Vonage, else PCMU)")
    sim.add_argument("--rate", type=int, default=0,
                     help="sample rate (default: the platform's usual one for the codec)")
    sim.add_argument("--legs", choices=["single", "split"], default="single",
                     help="one stream with both tracks, or one stream per leg (Vonage "
                          "hears the call mixed on one socket: single only)")
    sim.add_argument("--speed", type=float, default=1.0, help="1 = real time, 0 = flat out")
    sim.add_argument("--duration", type=float, default=0.0, help="seconds per call (0: all)")
    sim.add_argument("--reorder", type=float, default=0.0, help="out-of-order probability")
    sim.add_argument("--loss", type=float, default=0.0, help="lost-frame probability")
    sim.add_argument("--duplicate", type=float, default=0.0, help="duplicate probability")
    sim.add_argument("--no-dtmf", action="store_true", help="send no DTMF")
    sim.add_argument("--stagger", type=float, default=0.0, help="seconds between call starts")
    sim.add_argument("--abrupt", action="store_true", help="close without a stop frame")
    sim.add_argument("--dialogue", default="", help="play only this demo dialogue")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--out", help="write what the console sent back (JSON) to this file")
    sim.add_argument("--json", action="store_true", help="print a JSON summary")
    return parser


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from console.config import load

    overrides = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": getattr(args, "data_dir", None),
        "token": getattr(args, "token", None),
        "no_auth": getattr(args, "no_auth", None),
        "public_url": getattr(args, "public_url", None),
        "twilio_auth_token": getattr(args, "twilio_auth_token", None),
        "telnyx_public_key": getattr(args, "telnyx_public_key", None),
        "webhook_port": getattr(args, "webhook_port", None),
        "stream_on_answer": getattr(args, "stream_on_answer", None),
        "scorecard_file": getattr(args, "scorecard_file", None),
        **{name: getattr(args, name, None) for name in _BUS_FIELDS},
        **extra,
    }
    return load(Path(args.config) if getattr(args, "config", None) else None, overrides)


def _parse_when(text: str | None) -> float | None:
    if not text:
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[-1:] in units and text[:-1].isdigit():
        return (datetime.now() - timedelta(**{units[text[-1]]: int(text[:-1])})).timestamp()
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise SystemExit(f"coach-console: cannot read date {text!r} "
                         "(use YYYY-MM-DD[THH:MM] or 7d/12h/30m)") from None


def _open_store(args: argparse.Namespace) -> tuple[Any, Path]:
    from console.store.db import connect, db_path

    settings = _settings(args)
    data_dir = settings.data_path()
    path = db_path(data_dir)
    if not path.exists():
        raise SystemExit(f"coach-console: no calls yet in {data_dir} "
                         "(run `coach-console serve` and stream a call)")
    return connect(path, readonly=True), data_dir


def _team_settings(args: argparse.Namespace) -> Any:
    from console.config import ConfigError

    try:
        return _settings(args)
    except ConfigError as exc:
        raise SystemExit(f"coach-console: {exc}") from None


def cmd_calls(args: argparse.Namespace) -> int:
    from console.store.queries import HIT_END, HIT_START, list_calls

    if getattr(args, "bus_url", None):
        from console.team import commands

        if args.search:
            raise SystemExit("coach-console: --search with --bus: search the team's history "
                             "in a console window (History), which keeps a copy of it")
        return commands.run(commands.calls(_team_settings(args), args.json,
                                           _parse_when(args.since), _parse_when(args.until),
                                           args.limit))

    conn, _ = _open_store(args)
    calls = list_calls(conn, since=_parse_when(args.since), until=_parse_when(args.until),
                       limit=args.limit, search=args.search)
    if args.json:
        json.dump(calls, sys.stdout, indent=2)
        print()
        return 0
    if not calls:
        print("no calls")
        return 0
    print(f"{'STARTED':<20} {'STATE':<11} {'DUR':>7} {'PROVIDER':<8} {'FROM':<16} "
          f"{'TO':<16} ID")
    for c in calls:
        dur = f"{c['duration_s']:.0f}s" if c["duration_s"] is not None else "live"
        started = (c["started_at"] or "")[:19].replace("T", " ")
        print(f"{started:<20} {c['state']:<11} {dur:>7} {c['provider']:<8} "
              f"{c['from'] or '-':<16} {c['to'] or '-':<16} {c['id']}")
        for hit in c.get("hits", [])[:3]:
            snippet = hit["snippet"].replace(HIT_START, "\033[1m").replace(HIT_END, "\033[0m") \
                if sys.stdout.isatty() else hit["snippet"].replace(HIT_START, "[").replace(
                    HIT_END, "]")
            print(f"{'':<20} {hit['speaker']:>11} @{hit['start_s']:7.1f}s  {snippet}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from console.store.export_wav import NotRecorded, export_wav
    from console.store.exports import file_name, render
    from console.store.queries import CallNotFound, call_detail, list_calls

    if getattr(args, "bus_url", None):
        from console.team import commands

        if args.all:
            raise SystemExit("coach-console: --all with --bus: export calls one by one "
                             "(see `coach-console calls --bus URL`)")
        return commands.run(commands.export(_team_settings(args), args.call_id, args.format,
                                            args.output))
    conn, data_dir = _open_store(args)
    ids = [c["id"] for c in list_calls(conn)] if args.all else [args.call_id]
    if args.all and not ids:
        print("no calls to export", file=sys.stderr)
        return 1
    out = Path(args.output) if args.output else None
    if args.all:
        out = out or Path.cwd()
        out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for call_id in ids:
        try:
            if args.format == "wav":
                target = (out / f"{file_name(call_id)}.wav" if args.all
                          else out or Path(f"{file_name(call_id)}.wav"))
                export_wav(conn, data_dir, call_id, target)
            else:
                text = render(call_detail(conn, call_id), args.format)
                if out is None or str(out) == "-":
                    sys.stdout.write(text)
                    continue
                target = out / f"{file_name(call_id)}.{args.format}" if args.all else out
                target.write_text(text, encoding="utf-8")
            print(f"wrote {target}", file=sys.stderr)
        except (CallNotFound, NotRecorded) as exc:
            print(f"coach-console: {exc}", file=sys.stderr)
            failures += 1
        except OSError as exc:
            print(f"coach-console: cannot write export for {call_id}: {exc}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from console.config import ConfigError
    from console.engine import DataDirLocked
    from console.headless import serve
    from console.process_exit import exit_now

    try:
        settings = _settings(args, record=args.record, transcribe=args.transcribe,
                             redaction=args.redaction, translate=args.translate)
    except ConfigError as exc:
        raise SystemExit(f"coach-console: {exc}") from None
    if settings.no_auth:
        logging.getLogger("console").warning(
            "authentication is off (--no-auth): anyone who can reach the port can stream")
    try:
        code = serve(settings)
    except DataDirLocked as exc:
        raise SystemExit(f"coach-console: {exc}") from None
    except OSError as exc:
        raise SystemExit(f"coach-console: cannot listen on {settings.host}:{settings.port}: "
                         f"{exc.strerror or exc}") from None
    exit_now(code)  # the store is closed: nothing left worth waiting for


def cmd_listen(args: argparse.Namespace) -> int:
    from console.team import commands

    return commands.run(commands.listen(_team_settings(args), args.call_id, args.seconds,
                                        args.output))


def cmd_whisper(args: argparse.Namespace) -> int:
    from console.team import commands

    return commands.run(commands.whisper(_team_settings(args), args.call_id, args.wav,
                                         args.barge))


def cmd_archive(args: argparse.Namespace) -> int:
    from console.store.files import DataDirLocked
    from console.team.archive import archive

    try:
        return archive(_team_settings(args))
    except DataDirLocked as exc:
        raise SystemExit(f"coach-console: {exc}") from None


def cmd_bus(args: argparse.Namespace) -> int:
    import signal
    import time

    from console.server.logmask import protect_secrets
    from console.team.busserver import BusServer, BusServerError

    # Before the server starts: a signal at any moment stops it too, never leaves it orphaned.
    stop = [False]

    def halt(*_a: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, halt)
    signal.signal(signal.SIGINT, halt)
    if args.store:
        store = Path(args.store).expanduser()
    else:
        from console.config import ConfigError

        try:
            store = _settings(args).data_path() / "bus"
        except ConfigError as exc:
            raise SystemExit(f"coach-console: {exc}") from None
    try:
        server = BusServer(store, port=args.port, host=args.host, user=args.user or "",
                           password=args.password or "", token=args.token or "",
                           tls_cert=args.tls_cert or "", tls_key=args.tls_key or "")
        protect_secrets(server.token, server.password)
        server.start(quiet=False)
    except (BusServerError, OSError) as exc:
        raise SystemExit(f"coach-console: {exc}") from None
    try:  # the product's stream, buckets and object store, ready before anyone joins
        if not server.tls_cert:  # (over TLS the first node or console sets them up)
            asyncio.run(_bus_layout(server.url()))
    except Exception as exc:
        server.stop()
        raise SystemExit(f"coach-console: the bus started but could not be set up: {exc}") \
            from None
    print(f"Coach Console team bus (nats-server with JetStream) on port {server.port}",
          flush=True)
    print(f"  Store: {store}", flush=True)
    print(f"  Nodes:    coach-console serve --bus {server.url('HOST')} --node NAME", flush=True)
    print(f"  Consoles: coach-console --bus {server.url('HOST')}", flush=True)
    proc = server.process
    assert proc is not None
    while not stop[0] and proc.poll() is None:
        time.sleep(0.2)
    code = proc.poll()
    server.stop()
    return 0 if code in (None, 0) else 1


async def _bus_layout(url: str) -> None:
    from console.team.link import BusOptions, connect, ensure_layout

    nc = await connect(BusOptions(url), "coach-console bus")
    try:
        await ensure_layout(nc.jetstream())
    finally:
        await nc.close()


def cmd_simulate(args: argparse.Namespace) -> int:
    from console.sim.client import SimOptions, run
    from console.sim.dialogues import load_dialogues

    opts = SimOptions(
        url=args.url, provider=args.provider, calls=args.calls, token=args.token,
        twilio_auth_token=args.twilio_auth_token, codec=args.codec, rate=args.rate,
        legs=args.legs,
        speed=args.speed, duration=args.duration, reorder=args.reorder, loss=args.loss,
        duplicate=args.duplicate, dtmf=not args.no_dtmf, stagger=args.stagger,
        abrupt=args.abrupt, seed=args.seed, dialogue=args.dialogue, ca_file=args.ca,
    )
    try:
        results = asyncio.run(run(opts, load_dialogues()))
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"coach-console: {exc}") from None
    summary = [
        {"call": r.plan.call_key, "dialogue": r.plan.dialogue.name,
         "streams": [{"stream_id": s.stream_id, "leg": s.leg, "sent": s.sent,
                      "received": len(s.received), "marks_echoed": s.marks_echoed,
                      "clears": s.clears, "problems": s.problems,
                      "error": s.error} for s in r.streams]}
        for r in results
    ]
    if args.out:
        Path(args.out).write_text(json.dumps(
            [{"call": r.plan.call_key,
              "streams": [{"stream_id": s.stream_id, "received": s.received}
                          for s in r.streams]} for r in results], indent=1))
    errors = [s["error"] for c in summary for s in c["streams"] if s["error"]]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for c in summary:
            sent = sum(sum(s["sent"].values()) for s in c["streams"])
            back = sum(s["received"] for s in c["streams"])
            print(f"{c['call']} {c['dialogue']}: sent {sent} frames, got {back} back")
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


def cmd_self_test(args: argparse.Namespace) -> int:
    from console.selftest import self_test

    return self_test()


def cmd_gui(args: argparse.Namespace) -> int:
    from console.config import ConfigError
    from console.process_exit import exit_now

    try:
        settings = _settings(args)
    except ConfigError as exc:
        raise SystemExit(f"coach-console: {exc}") from None
    try:
        from console.ui.app import run_gui
    except ImportError as exc:
        raise SystemExit(f"coach-console: the desktop window needs Qt, which did not load "
                         f"({exc}); `coach-console serve` runs without a window") from None
    from console.engine import DataDirLocked

    try:
        code = run_gui(settings, demo=args.demo)
    except DataDirLocked as exc:
        raise SystemExit(f"coach-console: {exc}") from None
    exit_now(code)  # the engine is stopped and the store closed


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from console.server.logmask import install as mask_secrets_in_logs

    # Before the first record: at -v websockets logs request lines and headers, tokens and all.
    mask_secrets_in_logs()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # Every connect and disconnect is already told as a stream event.
    logging.getLogger("websockets").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    handlers = {"serve": cmd_serve, "calls": cmd_calls, "export": cmd_export,
                "simulate": cmd_simulate, "self-test": cmd_self_test, "listen": cmd_listen,
                "whisper": cmd_whisper, "bus": cmd_bus, "archive": cmd_archive}
    try:
        return handlers.get(args.command or "", cmd_gui)(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0

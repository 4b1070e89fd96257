"""Where things go on the bus. Subjects carry team, node and call, so the server's
permissions can limit what a supervisor or a node may see or say:

    coach.<team>.facts.<node>.<call>   call facts (JetStream COACH_FACTS: durable)
    coach.<team>.wave.<node>.<call>    waveform envelopes of every live call (10/s, core)
    coach.<team>.audio.<node>.<call>   a call's decoded audio, only while a console listens
    coach.<team>.talk.<node>.<call>    a supervisor's voice, console to node
    coach.<team>.cmd.<node>            commands to the node holding a call (request/reply)
    coach.<team>.cmd.<node>.prompt     a recording to play (MP3 inside, up to 1 MB)
    coach.<team>.hb.<node>             node heartbeat, every second

KV bucket `coach_calls` holds a summary per call (`calls --bus`, late join); bucket
`coach_nodes` the nodes' last heartbeats; object store `coach_audio` each recorded call's WAV.
"""

from __future__ import annotations

import functools
import re

__all__ = ["FACTS_STREAM", "Subjects", "token", "untoken"]

FACTS_STREAM = "COACH_FACTS"
CALLS_BUCKET = "coach_calls"
NODES_BUCKET = "coach_nodes"
AUDIO_STORE = "coach_audio"

_SAFE = re.compile(r"[A-Za-z0-9-]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@functools.lru_cache(maxsize=65536)  # subjects are made per frame for listened calls
def token(text: str) -> str:
    """`text` as one subject token and KV key: letters, digits and '-' stay, every other
    byte becomes _XX (reversible, so distinct ids never share a subject)."""
    return "".join(c if _SAFE.fullmatch(c) else "".join(f"_{b:02x}" for b in c.encode())
                   for c in text) or "_"


def untoken(tok: str) -> str:
    out = bytearray()
    i = 0
    while i < len(tok):
        if tok[i] == "_" and i + 3 <= len(tok):
            out += bytes.fromhex(tok[i + 1:i + 3])
            i += 3
        else:
            out += tok[i].encode()
            i += 1
    return out.decode("utf-8", "replace")


def check_name(kind: str, name: str) -> str:
    """A node or team name: 1-64 letters, digits, '-' or '_', starting with a letter or
    digit (it is a subject token and shows on tiles)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{kind} name {name!r}: use 1-64 letters, digits, '-' or '_'")
    return name


class Subjects:
    def __init__(self, team: str = "team") -> None:
        self.team = check_name("team", team)
        self.root = f"coach.{self.team}"

    def facts(self, node: str, call_id: str) -> str:
        return f"{self.root}.facts.{node}.{token(call_id)}"

    def call_facts(self, call_id: str) -> str:
        return f"{self.root}.facts.*.{token(call_id)}"

    def all_facts(self) -> str:
        return f"{self.root}.facts.>"

    def wave(self, node: str, call_id: str) -> str:
        return f"{self.root}.wave.{node}.{token(call_id)}"

    def all_waves(self) -> str:
        return f"{self.root}.wave.>"

    def audio(self, node: str, call_id: str) -> str:
        return f"{self.root}.audio.{node}.{token(call_id)}"

    def talk(self, node: str, call_id: str) -> str:
        return f"{self.root}.talk.{node}.{token(call_id)}"

    def all_talk(self, node: str) -> str:
        return f"{self.root}.talk.{node}.*"

    def command(self, node: str) -> str:
        return f"{self.root}.cmd.{node}"

    def prompt(self, node: str) -> str:
        return f"{self.root}.cmd.{node}.prompt"

    def heartbeat(self, node: str) -> str:
        return f"{self.root}.hb.{node}"

    def all_heartbeats(self) -> str:
        return f"{self.root}.hb.*"

    def call_key(self, call_id: str) -> str:
        return f"{self.team}.{token(call_id)}"

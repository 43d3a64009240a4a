#!/usr/bin/env python3
"""Federation benchmarks, Hearth against Synapse in the same run on the same machine.

Both servers are measured as the *receiving* side, against the same load peer: a small Python
homeserver (this file's `LoadPeer`) that has its own Ed25519 key, serves /_matrix/key/v2/server
over TLS from the test CA, and signs every event and request it sends with signedjson, so the
server under test verifies signatures, hashes and auth for each event exactly as it would for a
real remote server. The peer precomputes everything it sends before a clock starts, so its own
(Python) speed is not part of any measurement.

1. **Inbound transactions.** A local user of the server under test creates a public room; a peer
   user joins it over federation (make_join/send_join). The peer then sends PDUS messages in
   transactions of 50 PDUs (the spec's maximum), one transaction at a time, each event signed,
   hashed and chained to the previous one. The time runs from the first transaction until the
   last event can be read through the local user's client API; every PDU must be accepted.
2. **Joining a big room.** The peer hosts a room with MEMBERS joined members (all from the peer's
   server, so one key covers every signature). A user of the server under test joins it through
   the client API (`POST /join/{roomId}?server_name=peer`): make_join, send_join, then verifying
   and storing the returned state and auth chain. The time is the client's /join call; afterwards
   the client must see all MEMBERS+1 members.

Each round starts a fresh server; Hearth and Synapse rounds alternate. Prints JSON.

    bench_federation_synapse.py HEARTH_BINARY     (env: PDUS=2000 MEMBERS=5000 ROUNDS=3 ROOM_VERSION=12)

Needs the test environment's .venv (Synapse, signedjson, canonicaljson) and openssl.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import http.server
import json
import os
import ssl
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "Clients"))
from hearth_server import HearthProcess, SynapseProcess, TestCA, free_port, request  # noqa: E402

from canonicaljson import encode_canonical_json  # noqa: E402
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key  # noqa: E402
from signedjson.sign import sign_json  # noqa: E402

PDUS = int(os.environ.get("PDUS", "2000"))
MEMBERS = int(os.environ.get("MEMBERS", "5000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
ROOM_VERSION = os.environ.get("ROOM_VERSION", "12")
TARGETS = os.environ.get("TARGETS", "hearth,synapse").split(",")  # one alone for investigating
PER_TRANSACTION = 50


def unpadded(data: bytes) -> str:
    return base64.b64encode(data).rstrip(b"=").decode()


def unpadded_urlsafe(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# The redaction algorithm for the event types this peer creates (room versions 11 and 12 keep
# these top-level keys; earlier versions also kept origin, membership and prev_state).
KEPT_TOP_LEVEL = {"event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
                  "depth", "prev_events", "auth_events", "origin_server_ts"}
KEPT_CONTENT = {
    "m.room.member": {"membership", "join_authorised_via_users_server"},
    "m.room.join_rules": {"join_rule", "allow"},
    "m.room.history_visibility": {"history_visibility"},
    "m.room.power_levels": {"ban", "events", "events_default", "invite", "kick", "redact", "state_default",
                            "users", "users_default"},
}


def redacted(event: dict) -> dict:
    kept = {k: v for k, v in event.items() if k in KEPT_TOP_LEVEL}
    if event["type"] == "m.room.create":
        kept["content"] = dict(event["content"])
    else:
        names = KEPT_CONTENT.get(event["type"], set())
        kept["content"] = {k: v for k, v in event.get("content", {}).items() if k in names}
    return kept


def reference_id(event: dict) -> str:
    """The event ID of a room version 4+ event: its reference hash, URL-safe base64."""
    reference = redacted(event)
    reference.pop("signatures", None)
    return "$" + unpadded_urlsafe(hashlib.sha256(encode_canonical_json(reference)).digest())


class Signer:
    def __init__(self, server_name: str) -> None:
        self.server_name = server_name
        self.key = generate_signing_key("bench")

    def finish(self, event: dict) -> str:
        """Adds the content hash and this server's signature to `event`; its event ID (v4+ format)."""
        for field in ("hashes", "signatures", "unsigned"):
            event.pop(field, None)
        event["hashes"] = {"sha256": unpadded(hashlib.sha256(encode_canonical_json(event)).digest())}
        signed = sign_json(redacted(event), self.server_name, self.key)
        event["signatures"] = signed["signatures"]
        return reference_id(event)

    def authorization(self, method: str, uri: str, destination: str, content=None) -> str:
        signed = {"method": method, "uri": uri, "origin": self.server_name, "destination": destination}
        if content is not None:
            signed["content"] = content
        signature = sign_json(signed, self.server_name, self.key)["signatures"][self.server_name][f"ed25519:{self.key.version}"]
        return (f'X-Matrix origin="{self.server_name}",destination="{destination}",'
                f'key="ed25519:{self.key.version}",sig="{signature}"')

    def key_response(self) -> bytes:
        body = {"server_name": self.server_name, "valid_until_ts": int(time.time() * 1000) + 86_400_000,
                "verify_keys": {f"ed25519:{self.key.version}": {"key": encode_verify_key_base64(get_verify_key(self.key))}},
                "old_verify_keys": {}}
        return encode_canonical_json(sign_json(body, self.server_name, self.key))


class BigRoom:
    """A room resident only on the peer: create, the creator's join, power levels, public join
    rules, shared history, and MEMBERS-1 more joins, chained one after another."""

    def __init__(self, signer: Signer, members: int) -> None:
        self.signer = signer
        self.events: dict[str, dict] = {}
        name = signer.server_name
        creator = f"@creator:{name}"
        now = int(time.time() * 1000)
        v12 = ROOM_VERSION == "12"
        create = {"type": "m.room.create", "sender": creator, "state_key": "", "depth": 1, "prev_events": [],
                  "auth_events": [], "origin_server_ts": now, "content": {"room_version": ROOM_VERSION}}
        if not v12:
            create["content"]["creator"] = creator
            create["room_id"] = f"!bench{now}:{name}"
        create_id = signer.finish(create)
        self.room_id = "!" + create_id[1:] if v12 else create["room_id"]
        self.events[create_id] = create
        self.create_id = create_id
        self.last, self.depth = create_id, 1
        # Version 12 lists no create event in auth_events (the room ID names it).
        base_auth = [] if v12 else [create_id]
        creator_join = self._add("m.room.member", creator, creator, {"membership": "join"}, base_auth)
        users = {} if v12 else {creator: 100}  # v12 creators have unlimited power and are not listed
        power = self._add("m.room.power_levels", creator, "", {
            "users": users, "users_default": 0, "events_default": 0, "state_default": 50, "ban": 50, "kick": 50,
            "redact": 50, "invite": 0, "events": {}}, base_auth + [creator_join])
        rules = self._add("m.room.join_rules", creator, "", {"join_rule": "public"}, base_auth + [power, creator_join])
        self._add("m.room.history_visibility", creator, "", {"history_visibility": "shared"},
                  base_auth + [power, creator_join])
        self.join_auth = base_auth + [power, rules]
        for n in range(1, members):
            user = f"@member{n}:{name}"
            self._add("m.room.member", user, user, {"membership": "join"}, self.join_auth)
        self.auth_chain = [self.events[i] for i in [create_id, creator_join, power, rules]]
        self.state_json = encode_canonical_json(list(self.events.values()))
        self.auth_chain_json = encode_canonical_json(self.auth_chain)

    def _add(self, kind: str, sender: str, state_key: str | None, content: dict, auth: list[str]) -> str:
        self.depth += 1
        event = {"type": kind, "room_id": self.room_id, "sender": sender, "depth": self.depth,
                 "prev_events": [self.last], "auth_events": auth, "origin_server_ts": int(time.time() * 1000),
                 "content": content}
        if state_key is not None:
            event["state_key"] = state_key
        event_id = self.signer.finish(event)
        self.events[event_id] = event
        self.last = event_id
        return event_id

    def join_template(self, user: str) -> dict:
        return {"room_version": ROOM_VERSION, "event": {
            "type": "m.room.member", "room_id": self.room_id, "sender": user, "state_key": user,
            "content": {"membership": "join"}, "depth": self.depth + 1, "prev_events": [self.last],
            "auth_events": self.join_auth, "origin_server_ts": int(time.time() * 1000)}}

    def send_join_response(self, event: dict) -> bytes:
        head = encode_canonical_json({"origin": self.signer.server_name, "members_omitted": False,
                                      "servers_in_room": [self.signer.server_name], "event": event})
        # Splices the precomputed state and auth chain into the answer.
        return head[:-1] + b',"state":' + self.state_json + b',"auth_chain":' + self.auth_chain_json + b"}"


class LoadPeer:
    """The peer homeserver: a TLS listener answering what a server under test asks of it."""

    def __init__(self, ca: TestCA) -> None:
        self.port = free_port()
        self.server_name = f"localhost:{self.port}"
        self.signer = Signer(self.server_name)
        self.rooms: dict[str, BigRoom] = {}
        # Every event this peer created, for /event and /get_missing_events.
        self.events: dict[str, dict] = {}
        # Per room, the state (and its auth chain) at every event this peer sent after joining:
        # the peer sends no state events after its join, so one answer fits them all.
        self.room_state: dict[str, tuple[list[dict], list[dict]]] = {}
        self.unexpected: list[str] = []
        self.client_tls = ssl.create_default_context(cafile=str(ca.ca_file))
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.route("GET")

            def do_PUT(self):
                self.route("PUT")

            def do_POST(self):
                self.route("POST")

            def route(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path = urllib.parse.urlsplit(self.path).path
                parts = [urllib.parse.unquote(p) for p in path.split("/")]
                if path.startswith("/_matrix/key/v2/server"):
                    return self.answer(200, peer.signer.key_response())
                if path == "/_matrix/federation/v1/version":
                    return self.answer(200, b'{"server":{"name":"hearth-bench-peer","version":"1"}}')
                if method == "GET" and path.startswith("/_matrix/federation/v1/make_join/") and parts[5] in peer.rooms:
                    return self.answer(200, encode_canonical_json(peer.rooms[parts[5]].join_template(parts[6])))
                if method == "PUT" and path.startswith("/_matrix/federation/v2/send_join/") and parts[5] in peer.rooms:
                    return self.answer(200, peer.rooms[parts[5]].send_join_response(body))
                if method == "PUT" and path.startswith("/_matrix/federation/v1/send/"):
                    return self.answer(200, b'{"pdus":{}}')
                if method == "GET" and path.startswith("/_matrix/federation/v1/event/") and parts[5] in peer.events:
                    return self.answer(200, encode_canonical_json({
                        "origin": peer.server_name, "origin_server_ts": int(time.time() * 1000),
                        "pdus": [peer.events[parts[5]]]}))
                if method == "GET" and path.startswith(("/_matrix/federation/v1/state_ids/", "/_matrix/federation/v1/state/")) \
                        and parts[5] in peer.room_state:
                    state, auth_chain = peer.room_state[parts[5]]
                    if parts[4] == "state_ids":
                        answer = {"pdu_ids": [reference_id(e) for e in state], "auth_chain_ids": [reference_id(e) for e in auth_chain]}
                    else:
                        answer = {"pdus": state, "auth_chain": auth_chain}
                    return self.answer(200, encode_canonical_json(answer))
                if method == "POST" and path.startswith("/_matrix/federation/v1/get_missing_events/"):
                    return self.answer(200, encode_canonical_json({"events": peer.missing_events(body)}))
                if method == "GET" and path.startswith("/_matrix/federation/v1/user/devices/"):
                    return self.answer(200, encode_canonical_json({"user_id": parts[5], "stream_id": 0, "devices": []}))
                if method == "GET" and path.startswith("/_matrix/federation/v1/query/profile"):
                    return self.answer(200, b"{}")
                peer.unexpected.append(f"{method} {path}")
                self.answer(404, b'{"errcode":"M_UNRECOGNIZED","error":"not served by the bench peer"}')

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(str(ca.cert_file), str(ca.key_file))
        self.httpd.socket = server_tls.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def host_big_room(self, members: int) -> BigRoom:
        room = BigRoom(self.signer, members)
        self.rooms[room.room_id] = room
        self.events.update(room.events)
        self.room_state[room.room_id] = (list(room.events.values()), room.auth_chain)
        return room

    def missing_events(self, query: dict) -> list[dict]:
        """The spec's walk: back from latest_events along prev_events, stopping at earliest_events
        and at events this peer did not create; oldest first, at most `limit`."""
        earliest, limit = set(query.get("earliest_events", [])), int(query.get("limit", 10))
        found, frontier = [], list(query.get("latest_events", []))
        seen = set(frontier) | earliest
        while frontier and len(found) < limit:
            event = self.events.get(frontier.pop(0))
            if event is None:
                continue
            for prev in event["prev_events"]:
                if prev not in seen and prev in self.events:
                    seen.add(prev)
                    found.append(self.events[prev])
                    frontier.append(prev)
        return sorted(found[:limit], key=lambda e: e["depth"])

    def connection(self, target_port: int) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("localhost", target_port, context=self.client_tls, timeout=600)

    def federation_call(self, connection, method: str, path: str, destination: str, body=None, raw: bytes | None = None,
                        authorization: str | None = None):
        data = raw if raw is not None else (None if body is None else encode_canonical_json(body))
        headers = {"Authorization": authorization or self.signer.authorization(method, path, destination, body)}
        if data is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        text = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path} -> {response.status}: {text[:500]!r}")
        return json.loads(text)


def register(server, localpart: str) -> str:
    """An access token for a new user, through open registration with m.login.dummy."""
    body = {"username": localpart, "password": "bench-password-1", "auth": {"type": "m.login.dummy"}}
    status, answer = request(server.base_url, "POST", "/_matrix/client/v3/register", body=body)
    if status == 401:
        body["auth"]["session"] = answer["session"]
        status, answer = request(server.base_url, "POST", "/_matrix/client/v3/register", body=body)
    if status != 200:
        raise RuntimeError(f"register {localpart}: {status} {answer}")
    return answer["access_token"]


def inbound_transactions(server, peer: LoadPeer) -> float:
    """PDUs per second received, verified, authorized and stored by `server`."""
    token = register(server, "pdu-host")
    status, created = request(server.base_url, "POST", "/_matrix/client/v3/createRoom",
                              token, {"preset": "public_chat", "room_version": ROOM_VERSION})
    assert status == 200, created
    room = created["room_id"]
    destination = server.server_name
    port = int(destination.rsplit(":", 1)[1])
    connection = peer.connection(port)
    user = f"@sender:{peer.server_name}"
    quoted_room, quoted_user = urllib.parse.quote(room, safe=""), urllib.parse.quote(user, safe="")
    template = peer.federation_call(connection, "GET",
                                    f"/_matrix/federation/v1/make_join/{quoted_room}/{quoted_user}?ver={ROOM_VERSION}",
                                    destination)["event"]
    template["origin_server_ts"] = int(time.time() * 1000)
    join_id = peer.signer.finish(template)
    peer.events[join_id] = template
    joined = peer.federation_call(connection, "PUT",
                                  f"/_matrix/federation/v2/send_join/{quoted_room}/{urllib.parse.quote(join_id, safe='')}",
                                  destination, template)
    # The power-levels (and, before v12, create) events' IDs: the join's own auth events name them.
    known = {reference_id(e): e["type"] for e in joined["state"] + joined["auth_chain"]}
    by_type = {known[i]: i for i in template["auth_events"] if i in known}
    power_id = by_type["m.room.power_levels"]
    peer.room_state[room] = (joined["state"] + [template], joined["auth_chain"])
    auth = [power_id, join_id] if ROOM_VERSION == "12" else [by_type["m.room.create"], power_id, join_id]

    # Every transaction is built, signed and serialized before the clock starts.
    transactions, last, depth, event_ids = [], join_id, template["depth"], []
    for t in range(0, PDUS, PER_TRANSACTION):
        pdus = []
        for n in range(t, min(t + PER_TRANSACTION, PDUS)):
            depth += 1
            event = {"type": "m.room.message", "room_id": room, "sender": user, "depth": depth,
                     "prev_events": [last], "auth_events": auth, "origin_server_ts": int(time.time() * 1000),
                     "content": {"msgtype": "m.text", "body": f"benchmark message {n}"}}
            last = peer.signer.finish(event)
            peer.events[last] = event
            event_ids.append(last)
            pdus.append(event)
        body = {"origin": peer.server_name, "origin_server_ts": int(time.time() * 1000), "pdus": pdus}
        path = f"/_matrix/federation/v1/send/bench{t}"
        transactions.append((path, encode_canonical_json(body), peer.signer.authorization("PUT", path, destination, body)))

    start = time.monotonic()
    for path, raw, authorization in transactions:
        answer = peer.federation_call(connection, "PUT", path, destination, raw=raw, authorization=authorization)
        errors = {k: v for k, v in answer.get("pdus", {}).items() if v}
        if errors:
            raise RuntimeError(f"{len(errors)} PDUs refused, e.g. {next(iter(errors.items()))}")
    # Done when the last event is readable by the local member.
    last_path = f"/_matrix/client/v3/rooms/{quoted_room}/event/{urllib.parse.quote(event_ids[-1], safe='')}"
    while request(server.base_url, "GET", last_path, token)[0] != 200:
        if time.monotonic() - start > 900:
            raise RuntimeError("the last event never became readable")
        time.sleep(0.005)
    elapsed = time.monotonic() - start
    connection.close()
    first = request(server.base_url, "GET",
                    f"/_matrix/client/v3/rooms/{quoted_room}/event/{urllib.parse.quote(event_ids[0], safe='')}", token)
    assert first[0] == 200, first
    return PDUS / elapsed


def big_room_join(server, peer: LoadPeer) -> float:
    """Seconds for a user of `server` to join the peer's room of MEMBERS members."""
    room = peer.host_big_room(MEMBERS)
    token = register(server, "joiner")
    quoted = urllib.parse.quote(room.room_id, safe="")
    start = time.monotonic()
    status, answer = request(server.base_url, "POST",
                             f"/_matrix/client/v3/join/{quoted}?server_name={urllib.parse.quote(peer.server_name)}",
                             token, {}, timeout=900)
    elapsed = time.monotonic() - start
    if status != 200:
        raise RuntimeError(f"join failed: {status} {answer}")
    status, members = request(server.base_url, "GET", f"/_matrix/client/v3/rooms/{quoted}/joined_members", token)
    if status != 200 or len(members.get("joined", {})) != MEMBERS + 1:
        raise RuntimeError(f"after the join the client sees {len(members.get('joined', {}))} members, not {MEMBERS + 1}")
    del peer.rooms[room.room_id]
    return elapsed


def one_round(kind: str, ca: TestCA, peer: LoadPeer) -> tuple[float, float]:
    if kind == "hearth":
        server = HearthProcess(federation=ca).start()
    else:
        server = SynapseProcess(ca, log_level="WARNING").start()
    try:
        return inbound_transactions(server, peer), big_room_join(server, peer)
    except Exception:
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        server.cleanup()


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    os.environ["HEARTH_BIN"] = os.path.abspath(sys.argv[1])  # read by HearthProcess
    ca = TestCA()
    peer = LoadPeer(ca)
    runs = {kind: {"pdus_per_second": [], "join_seconds": []} for kind in TARGETS}
    try:
        for _ in range(ROUNDS):
            for kind in TARGETS:  # alternate, so drift in the machine's load affects both alike
                rate, join = one_round(kind, ca, peer)
                runs[kind]["pdus_per_second"].append(rate)
                runs[kind]["join_seconds"].append(join)
                print(f"{kind}: {rate:.0f} PDUs/s, join {join:.2f} s", file=sys.stderr)
    finally:
        peer.httpd.shutdown()
        ca.cleanup()
    median = {kind: {metric: statistics.median(values) for metric, values in metrics.items()} for kind, metrics in runs.items()}
    print(json.dumps({
        "pdus": PDUS, "members": MEMBERS, "rounds": ROUNDS, "room_version": ROOM_VERSION, "runs": runs, "median": median,
        "unexpected_requests": sorted(set(peer.unexpected)),
        "ratio": {"pdus_per_second": median["hearth"]["pdus_per_second"] / median["synapse"]["pdus_per_second"],
                  "join": median["synapse"]["join_seconds"] / median["hearth"]["join_seconds"]}
        if len(median) == 2 else None}, indent=2))


if __name__ == "__main__":
    main()

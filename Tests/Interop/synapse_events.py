#!/usr/bin/env python3
"""Runs a real Synapse on loopback, makes it create events, and dumps them for Hearth.

Usage: .venv/bin/python3 Tests/Interop/synapse_events.py --out FILE [--keep DIR]

Starts Synapse (pip `matrix-synapse`, from the same venv) in a temporary directory with
SQLite, plain HTTP on 127.0.0.1 only, no federation and no key servers. Registers two users
with the registration shared secret, then for room versions 10, 11 and 12: creates a room,
invites and joins, sends messages (unicode, mentions, a notice, a reaction), changes the
topic, name and power levels, redacts a message, and leaves and rejoins. Stops Synapse and
writes every row of its `event_json` table (raw `json`, `format_version`) with the room's
version (`rooms.room_version`), and the server's signing key line (its *.signing.key file):

  {"synapse_version": ..., "server_name": ..., "signing_key": "ed25519 a_xxx <seed>",
   "events": [{"event_id", "room_id", "room_version", "format_version", "json"}, ...]}

Nothing leaves the machine: the only listener and every request are on 127.0.0.1.
"""
import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SERVER_NAME = "synapse.interop.test"
ROOM_VERSIONS = ["10", "11", "12"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(workdir, port, secret):
    relaxed = "{per_second: 1000, burst_count: 1000}"
    config = f"""
server_name: "{SERVER_NAME}"
pid_file: "{workdir}/homeserver.pid"
public_baseurl: "http://127.0.0.1:{port}/"
report_stats: false
enable_metrics: false
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{workdir}/homeserver.db"
log_config: "{workdir}/log.config"
media_store_path: "{workdir}/media_store"
signing_key_path: "{workdir}/{SERVER_NAME}.signing.key"
macaroon_secret_key: "{secret}-macaroon"
form_secret: "{secret}-form"
registration_shared_secret: "{secret}"
enable_registration: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
url_preview_enabled: false
presence:
  enabled: false
rc_message: {relaxed}
rc_registration: {relaxed}
rc_joins:
  local: {relaxed}
  remote: {relaxed}
rc_joins_per_room: {relaxed}
rc_invites:
  per_room: {relaxed}
  per_user: {relaxed}
  per_issuer: {relaxed}
rc_room_creation: {relaxed}
rc_admin_redaction: {relaxed}
"""
    with open(f"{workdir}/homeserver.yaml", "w") as f:
        f.write(config)
    with open(f"{workdir}/log.config", "w") as f:
        f.write(f"""version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(levelname)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: "{workdir}/homeserver.log"
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
""")


class Client:
    def __init__(self, base, token=None):
        self.base, self.token, self.txn = base, token, 0

    def call(self, method, path, body=None, ok=(200,)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path} -> {e.code}: {e.read()[:500]!r}") from None

    def send(self, room, event_type, content):
        self.txn += 1
        path = f"/_matrix/client/v3/rooms/{q(room)}/send/{q(event_type)}/t{self.txn}-{time.time_ns()}"
        return self.call("PUT", path, content)["event_id"]

    def state(self, room, event_type, content, state_key=""):
        return self.call("PUT", f"/_matrix/client/v3/rooms/{q(room)}/state/{q(event_type)}/{q(state_key)}",
                         content)["event_id"]


def q(s):
    return urllib.parse.quote(s, safe="")


def register(base, secret, user, admin=False):
    anon = Client(base)
    nonce = anon.call("GET", "/_synapse/admin/v1/register")["nonce"]
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    for part in (nonce, user, "password-" + user, "admin" if admin else "notadmin"):
        mac.update(part.encode())
        if part != ("admin" if admin else "notadmin"):
            mac.update(b"\x00")
    resp = anon.call("POST", "/_synapse/admin/v1/register", {
        "nonce": nonce, "username": user, "password": "password-" + user, "admin": admin,
        "mac": mac.hexdigest()})
    return Client(base, resp["access_token"]), resp["user_id"]


def exercise(alice, alice_id, bob, bob_id):
    alice.call("PUT", f"/_matrix/client/v3/profile/{q(alice_id)}/displayname", {"displayname": "Alice ✨"})
    for version in ROOM_VERSIONS:
        room = alice.call("POST", "/_matrix/client/v3/createRoom", {
            "room_version": version, "preset": "private_chat", "name": f"Room v{version}",
            "topic": "interop \"quoted\" \\ back\\slash", "room_alias_name": f"interop-v{version}"})["room_id"]
        alice.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": bob_id})
        bob.call("POST", f"/_matrix/client/v3/join/{q(room)}", {})
        first = alice.send(room, "m.room.message", {"msgtype": "m.text", "body": "héllo 🌍 \u2028 \t tab"})
        alice.send(room, "m.room.message", {"msgtype": "m.text", "body": "hey Bob",
                                            "m.mentions": {"user_ids": [bob_id]}})
        alice.send(room, "m.room.message", {"msgtype": "m.notice", "body": "a notice", "big": 9007199254740991,
                                            "neg": -9007199254740991, "nested": {"a": [1, {"b": None}], "é": True}})
        alice.send(room, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": first, "key": "👍"}})
        alice.state(room, "m.room.topic", {"topic": "new topic"})
        alice.state(room, "m.room.name", {"name": f"Renamed v{version}"})
        levels = alice.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.power_levels/")
        levels.setdefault("users", {})[bob_id] = 50
        levels.setdefault("events", {})["m.room.topic"] = 50
        alice.state(room, "m.room.power_levels", levels)
        alice.state(room, "org.hearth.interop", {"value": "custom state"}, state_key="some key")
        spam = bob.send(room, "m.room.message", {"msgtype": "m.text", "body": "to be redacted"})
        alice.txn += 1
        alice.call("PUT", f"/_matrix/client/v3/rooms/{q(room)}/redact/{q(spam)}/r{alice.txn}", {"reason": "spam"})
        bob.state(room, "m.room.topic", {"topic": "bob may set the topic now"})
        bob.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/leave", {})
        alice.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": bob_id})
        bob.call("POST", f"/_matrix/client/v3/join/{q(room)}", {})
        bob.send(room, "m.room.message", {"msgtype": "m.text", "body": "back"})


def dump(workdir):
    db = sqlite3.connect(f"{workdir}/homeserver.db")
    rows = db.execute("""
        SELECT ej.event_id, ej.room_id, ej.json, ej.format_version, r.room_version
        FROM event_json ej JOIN rooms r ON r.room_id = ej.room_id
        LEFT JOIN events e ON e.event_id = ej.event_id
        ORDER BY e.stream_ordering""").fetchall()
    db.close()
    return [{"event_id": r[0], "room_id": r[1], "json": r[2], "format_version": r[3], "room_version": r[4]}
            for r in rows]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--keep", help="use this directory and keep it (for debugging)")
    args = parser.parse_args()

    import synapse
    workdir = args.keep or tempfile.mkdtemp(prefix="hearth-synapse-")
    os.makedirs(f"{workdir}/media_store", exist_ok=True)
    port = free_port()
    secret = os.urandom(16).hex()
    write_config(workdir, port, secret)
    py = sys.executable
    cfg = f"{workdir}/homeserver.yaml"
    subprocess.run([py, "-m", "synapse.app.homeserver", "-c", cfg, "--generate-keys"], check=True,
                   stdout=subprocess.DEVNULL)
    log = open(f"{workdir}/stdout.log", "wb")
    proc = subprocess.Popen([py, "-m", "synapse.app.homeserver", "-c", cfg], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError("Synapse exited during startup:\n" + open(f"{workdir}/stdout.log").read()[-3000:])
            try:
                urllib.request.urlopen(base + "/_matrix/client/versions", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("Synapse did not start within 180 s")
                time.sleep(0.3)
        alice, alice_id = register(base, secret, "alice", admin=True)
        bob, bob_id = register(base, secret, "bob")
        exercise(alice, alice_id, bob, bob_id)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    with open(f"{workdir}/{SERVER_NAME}.signing.key") as f:
        key_line = f.read().strip()
    events = dump(workdir)
    result = {"synapse_version": synapse.__version__, "server_name": SERVER_NAME, "signing_key": key_line,
              "events": events}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"synapse_events: {len(events)} events from Synapse {synapse.__version__} -> {args.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The operator's commands against a real server's data: `hearth policy explain`, `hearth audit`
(listing and `--verify`) and `hearth export-user`, run as an operator would while `hearth
serve` is running on the same configuration.

Run: .venv/bin/python3 Tests/Clients/test_admin_commands.py   (Scripts/test.sh runs it)
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess, hearth_binary  # noqa: E402

POLICY = """organization_policy:
  federation:
    mode: allowlist
    servers: ["partner.example"]
  rooms:
    default_class: local_only
  sharing:
    presence: false
"""


def hearth(server: HearthProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(hearth_binary()), *args, "--config", str(server.config_path)], capture_output=True, text=True)


def main() -> None:
    with HearthProcess(extra=POLICY) as server:
        # Read-only commands refuse a server that never ran, rather than create its data.
        fresh = HearthProcess(extra=POLICY)
        refused = hearth(fresh, "audit", "--verify")
        assert refused.returncode != 0 and "has this server run yet" in refused.stderr, refused
        assert not (fresh.dir / "data" / "homeserver.db").exists()
        fresh.cleanup()

        created = hearth(server, "register-user", "--user", "alice", "--password", "alice-pw")
        assert created.returncode == 0, created.stderr
        token = server.call("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "alice-pw"})["access_token"]
        room = server.call("POST", "/_matrix/client/v3/createRoom", {"name": "group"}, token)["room_id"]
        server.call("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/t1", {"msgtype": "m.text", "body": "hello-7171"}, token)

        explained = hearth(server, "policy", "explain", "--destination", "partner.example", "--room", room, "--json")
        assert explained.returncode == 0, explained.stderr
        lines = {line["subject"]: line for line in json.loads(explained.stdout)["lines"]}
        assert lines["federation"]["decision"] == "allow"
        assert lines["room events, state and membership"]["rule"] == "room_class.local_only"
        assert lines["presence"]["decision"] == "refuse"
        outsider = hearth(server, "policy", "explain", "--destination", "elsewhere.example")
        assert "[federation.allowlist]" in outsider.stdout and "stays" in outsider.stdout, outsider.stdout
        print("ok: hearth policy explain")

        verified = hearth(server, "audit", "--verify")
        assert verified.returncode == 0 and "intact" in verified.stdout, verified
        listed = hearth(server, "audit", "--json", "--decision", "refuse")
        assert listed.returncode == 0, listed.stderr
        print("ok: hearth audit and --verify")

        archive_path = Path(tempfile.mkdtemp()) / "alice.json"
        exported = hearth(server, "export-user", "--user", "alice", "--output", str(archive_path))
        assert exported.returncode == 0, exported.stderr
        archive = json.loads(archive_path.read_text())
        assert archive["format"] == "org.hearth.export.v1"
        assert any(event.get("content", {}).get("body") == "hello-7171" for event in archive["events"])
        assert oct(archive_path.stat().st_mode & 0o777) == "0o600"
        print("ok: hearth export-user")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""matrix-commander (the command-line client from PyPI) against a real `hearth serve` process.

Two matrix-commander users log in with m.login.password, one creates a room, invites the other,
who joins; each sends a message and receives the other's with `--listen once`.

What matrix-commander 8.0.6 needs from a server (found by running it against Hearth):
 * a server_name without a port: it rejects user IDs and aliases with a second ':' (E228 at
   --login), so this suite runs Hearth as `localhost` with public_baseurl on a loopback port;
 * rooms addressed by alias: Hearth's default room version 12 has room IDs without ':server',
   and matrix-commander appends ':<server>' to such an ID ("E151: Message send failed");
   by alias (#room:localhost) it resolves and uses the real ID;
 * `--plain`: it makes rooms encrypted by default, and end-to-end encryption is not in this
   suite (issue 5).

Run: .venv/bin/python3 Tests/Clients/test_matrix_commander.py   (Scripts/test.sh runs it)
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess, request  # noqa: E402

COMMANDER = Path(sys.executable).parent / "matrix-commander"


class MatrixCommander(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        if not COMMANDER.exists():
            raise AssertionError(f"{COMMANDER} missing; run Scripts/setup-test-env.sh --synapse")
        cls.server = HearthProcess(server_name="localhost").start()
        cls.work = Path(tempfile.mkdtemp(prefix="hearth-commander-"))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        cls.server.cleanup()
        subprocess.run(["rm", "-rf", str(cls.work)], check=False)

    def commander(self, who: str, *args: str) -> str:
        """Runs matrix-commander as `who` (own credentials and store directory); its stdout.
        A non-zero exit or an error line in its log fails the test."""
        directory = self.work / who
        directory.mkdir(exist_ok=True)
        # matrix-commander keeps a PID file under ~/.run: a private HOME keeps runs apart.
        env = dict(os.environ, HOME=str(self.work / "home"))
        result = subprocess.run([str(COMMANDER), "-c", "credentials.json", "-s", "store", *args],
                                cwd=directory, env=env, capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line or "CRITICAL" in line]
        self.assertEqual(result.returncode, 0, f"matrix-commander {' '.join(args)}:\n{result.stderr}")
        self.assertEqual(errors, [], f"matrix-commander {' '.join(args)} logged errors:\n{result.stderr}")
        return result.stdout

    def register(self, localpart: str, password: str) -> str:
        status, body = request(self.server.base_url, "POST", "/_matrix/client/v3/register",
                               body={"username": localpart, "password": password, "auth": {"type": "m.login.dummy"}})
        self.assertEqual(status, 200, body)
        return body["user_id"]

    def test_two_users_send_and_receive(self) -> None:
        tag = secrets.token_hex(3)
        alice = self.register(f"mca_{tag}", "pw-alice")
        bob = self.register(f"mcb_{tag}", "pw-bob")
        self.assertEqual(alice, f"@mca_{tag}:localhost")
        room = f"#room_{tag}:localhost"
        for who, user, password in (("alice", alice, "pw-alice"), ("bob", bob, "pw-bob")):
            self.commander(who, "--login", "password", "--homeserver", self.server.base_url, "--user-login", user,
                           "--password", password, "--device", f"mc-{who}", "--room-default", room)
            self.assertTrue((self.work / who / "credentials.json").exists())

        created = self.commander("alice", "--room-create", f"room_{tag}", "--name", f"commander {tag}", "--plain")
        self.assertIn(room, created)
        self.commander("alice", "--room-invite", room, "--user", bob)
        self.commander("bob", "--room-join", room)
        self.commander("bob", "--listen", "once")     # bob catches up before alice sends

        self.commander("alice", "-m", f"hello bob {tag}", "--room", room)
        received = self.commander("bob", "--listen", "once")
        self.assertIn(f"hello bob {tag}", received)
        self.assertIn(alice, received)

        self.commander("bob", "-m", f"hello alice {tag}", "--room", room)
        received = self.commander("alice", "--listen", "once")
        self.assertIn(f"hello alice {tag}", received)
        self.assertIn(bob, received)
        self.assertNotIn(f"hello bob {tag}", self.commander("bob", "--listen", "once"), "already delivered once")


if __name__ == "__main__":
    unittest.main(verbosity=2)

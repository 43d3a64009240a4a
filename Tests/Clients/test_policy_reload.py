#!/usr/bin/env python3
"""The organization policy is reloaded without a restart: a running `hearth serve` re-reads its
configuration on SIGHUP (what `systemctl reload hearth` sends), the new policy is in force at
once, and a configuration that does not parse leaves the policy in force as it was.

Run: .venv/bin/python3 Tests/Clients/test_policy_reload.py   (Scripts/test.sh runs it)
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess, hearth_binary  # noqa: E402

POLICY = """organization_policy:
  federation:
    mode: allowlist
    servers: ["partner.example"]
  sharing:
    presence: {presence}
"""


def verdicts(server: HearthProcess, token: str, destination: str) -> dict[str, str]:
    answer = server.call("GET", f"/_hearth/admin/v1/policy/explain?destination={destination}", token=token)
    return {line["subject"]: f'{line["decision"]} {line["rule"]}' for line in answer["lines"]}


def main() -> None:
    server = HearthProcess(extra=POLICY.format(presence="false"))
    base_config = server.config_path.read_text()
    with server:
        subprocess.run([str(hearth_binary()), "register-user", "--config", str(server.config_path), "--user", "admin",
                        "--password", "admin-pw", "--admin"], check=True, capture_output=True)
        token = server.call("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "admin"}, "password": "admin-pw"})["access_token"]
        before = verdicts(server, token, "partner.example")
        assert before["presence"] == "refuse sharing.presence", before
        assert verdicts(server, token, "other.example")["federation"] == "refuse federation.allowlist"

        def reload_with(text: str) -> None:
            server.config_path.write_text(text)
            server.process.send_signal(signal.SIGHUP)
            time.sleep(1)

        # A new policy: presence shared, and other.example allowed too.
        reload_with(base_config.replace("presence: false", "presence: true").replace('["partner.example"]', '["partner.example", "other.example"]'))
        after = verdicts(server, token, "partner.example")
        assert after["presence"] == "allow sharing.presence", after
        assert verdicts(server, token, "other.example")["federation"] == "allow federation.allowlist"
        print("ok: SIGHUP put the new policy in force without a restart")

        # A broken file: the policy in force stays, the server stays up.
        reload_with(base_config.replace("presence: false", "presence: sometimes"))
        assert verdicts(server, token, "partner.example")["presence"] == "allow sharing.presence"
        assert server.process.poll() is None, "the server exited"
        assert "configuration not reloaded" in server.log_path.read_text(), server.log_tail()
        print("ok: a configuration that does not parse left the policy in force and the server up")
        assert server.stop() == 0


if __name__ == "__main__":
    main()

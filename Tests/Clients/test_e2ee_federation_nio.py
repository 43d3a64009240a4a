#!/usr/bin/env python3
"""End-to-end encryption across servers with real matrix-nio clients (vodozemac): two Hearth
servers, then Hearth and a real Synapse (from PyPI), federating over TLS on loopback
(certificates from a CA this test makes). Alice on one server and Bob on the other share an
encrypted room; device keys, one-time key claims and to-device room keys cross between the
servers; each decrypts the other's messages; no Hearth database file holds the plaintext.

Run: .venv/bin/python3 Tests/Clients/test_e2ee_federation_nio.py   (Scripts/test.sh runs it)
"""
from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess, SynapseProcess, TestCA  # noqa: E402
from test_e2ee_nio import config, decrypted, encrypted_room, send, sync_until  # noqa: E402

from nio import AsyncClient  # noqa: E402


async def exchange(a, b, stores: Path, what: str) -> tuple[str, str]:
    """Alice on `a` and Bob on `b` share an encrypted room and each decrypts the other."""
    tag = secrets.token_hex(3)
    alice = AsyncClient(a.base_url, store_path=str(stores / f"alice{tag}"), config=config())
    bob = AsyncClient(b.base_url, store_path=str(stores / f"bob{tag}"), config=config())
    (stores / f"alice{tag}").mkdir()
    (stores / f"bob{tag}").mkdir()
    try:
        room_id = await encrypted_room(alice, bob, tag, "across")
        assert alice.user_id.endswith(a.server_name) and bob.user_id.endswith(b.server_name)
        secret_ab = f"across servers, only bob may read this {tag}"
        await send(alice, room_id, secret_ab)
        await sync_until(bob, decrypted(room_id, secret_ab), "bob decrypts alice's message")
        secret_ba = f"and back, only alice {tag}"
        await send(bob, room_id, secret_ba)
        await sync_until(alice, decrypted(room_id, secret_ba), "alice decrypts bob's message")
        print(f"ok: nio clients on {what} exchanged and decrypted messages in an encrypted room")
        return secret_ab, secret_ba
    finally:
        await alice.close()
        await bob.close()


def no_plaintext(server, secrets_: tuple[str, ...]) -> None:
    files = [p for p in (server.dir / "data").rglob("*") if p.is_file() and p.name.startswith("homeserver.db")]
    assert files, f"no database files for {server.server_name}"
    for path in files:
        content = path.read_bytes()
        for secret in secrets_:
            assert secret.encode() not in content, f"plaintext found in {path}"


async def main() -> None:
    stores = Path(tempfile.mkdtemp(prefix="hearth-e2ee-fed-"))
    ca = TestCA()
    try:
        with HearthProcess(federation=ca) as hearth, SynapseProcess(ca) as synapse:
            found = await exchange(hearth, synapse, stores, "Hearth and Synapse")
            found += await exchange(synapse, hearth, stores, "Synapse and Hearth")
            hearth.stop()
            no_plaintext(hearth, found)
            print("ok: Hearth's database files hold no plaintext of those messages")
        with HearthProcess(federation=ca) as a, HearthProcess(federation=ca) as b:
            found = await exchange(a, b, stores, "two Hearth servers")
            for server in (a, b):
                server.stop()
                no_plaintext(server, found)
            print("ok: neither Hearth server's database files hold the plaintext")
    finally:
        ca.cleanup()


if __name__ == "__main__":
    asyncio.run(main())

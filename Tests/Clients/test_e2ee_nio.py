#!/usr/bin/env python3
"""End-to-end encryption through Hearth with real matrix-nio clients (vodozemac):

- Alice and Bob (encryption enabled) exchange messages in an encrypted room; both decrypt.
- Bob logs in a second device later; it receives the room key it needs for Alice's next message.
- The server's database never holds the plaintext (the SQLite files are searched byte by byte).
"""
from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess  # noqa: E402

from nio import AsyncClient, AsyncClientConfig, RoomMessageText, SyncError  # noqa: E402

TIMEOUT = 60.0


def config() -> AsyncClientConfig:
    return AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, max_timeouts=2,
                             max_limit_exceeded=3, max_timeout_retry_wait_time=2, request_timeout=30)


def ok(response, what: str):
    if hasattr(response, "status_code") and getattr(response, "message", None) and type(response).__name__.endswith("Error"):
        raise AssertionError(f"{what} failed: {response}")
    return response


async def sync_until(client: AsyncClient, predicate, what: str):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        response = await client.sync(timeout=3000, since=client.next_batch)
        assert not isinstance(response, SyncError), f"sync failed waiting for {what}: {response}"
        found = predicate(response)
        if found:
            return found
    raise AssertionError(f"timed out waiting for {what}")


def decrypted(room_id: str, body: str):
    def predicate(response):
        room = response.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            if isinstance(event, RoomMessageText) and event.body == body:
                return event
        return None
    return predicate


async def prepare(client: AsyncClient):
    if client.should_upload_keys:
        ok(await client.keys_upload(), "keys_upload")
    ok(await client.sync(timeout=0), "sync")


async def send(sender: AsyncClient, room_id: str, body: str):
    if sender.should_query_keys:
        ok(await sender.keys_query(), "keys_query")
    for user in sender.rooms[room_id].users:
        for device in sender.device_store.active_user_devices(user):
            if device.id != sender.device_id:
                sender.verify_device(device)
    if sender.olm.should_share_group_session(room_id) or sender.get_missing_sessions(room_id):
        ok(await sender.share_group_session(room_id), "share_group_session")
    return ok(await sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body}), "room_send").event_id


async def encrypted_room(alice: AsyncClient, bob: AsyncClient, tag: str, name: str) -> str:
    """Alice and Bob register (on their own servers or one), upload their keys, and share an
    encrypted room Alice creates and Bob joins by invitation; the room's ID."""
    ok(await alice.register(f"alice{tag}", "alice-password", "alice-phone"), "register alice")
    ok(await bob.register(f"bob{tag}", "bob-password", "bob-laptop"), "register bob")
    for client in (alice, bob):
        await prepare(client)
    created = ok(await alice.room_create(name=name, invite=[bob.user_id], initial_state=[
        {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]), "room_create")
    room_id = created.room_id
    await sync_until(bob, lambda r: room_id in r.rooms.invite, "bob's invite arrives")
    ok(await bob.join(room_id), "join")
    await sync_until(bob, lambda r: room_id in r.rooms.join, "bob joined")
    await sync_until(alice, lambda r: bob.user_id in alice.rooms[room_id].users, "alice sees bob")
    return room_id


async def main() -> None:
    stores = Path(tempfile.mkdtemp(prefix="hearth-e2ee-"))
    with HearthProcess() as server:
        tag = secrets.token_hex(3)
        clients = []
        try:
            alice = AsyncClient(server.base_url, store_path=str(stores / "alice"), config=config())
            bob = AsyncClient(server.base_url, store_path=str(stores / "bob"), config=config())
            (stores / "alice").mkdir()
            (stores / "bob").mkdir()
            clients += [alice, bob]
            room_id = await encrypted_room(alice, bob, tag, "circle")
            assert alice.rooms[room_id].encrypted and bob.rooms[room_id].encrypted

            secret_ab = f"only bob may read this {tag}"
            await send(alice, room_id, secret_ab)
            await sync_until(bob, decrypted(room_id, secret_ab), "bob decrypts alice's message")
            secret_ba = f"and only alice this {tag}"
            await send(bob, room_id, secret_ba)
            await sync_until(alice, decrypted(room_id, secret_ba), "alice decrypts bob's message")
            print("ok: two nio clients exchanged and decrypted messages in an encrypted room")

            # Bob's second device, logged in later, gets the key for Alice's next message.
            (stores / "bob2").mkdir()
            bob2 = AsyncClient(server.base_url, user=bob.user_id, store_path=str(stores / "bob2"), config=config())
            clients.append(bob2)
            ok(await bob2.login("bob-password", device_name="bob-phone"), "login bob2")
            await prepare(bob2)
            # Alice's sync reports that Bob's device list changed; nio then re-queries his keys.
            await sync_until(alice, lambda r: bob.user_id in r.device_list.changed, "bob's device-list change")
            ok(await alice.keys_query(), "keys_query")
            assert any(d.id == bob2.device_id for d in alice.device_store.active_user_devices(bob.user_id)), \
                "alice does not see bob's new device"
            secret_new = f"for every device of bob {tag}"
            await send(alice, room_id, secret_new)
            await sync_until(bob2, decrypted(room_id, secret_new), "bob's second device decrypts")
            print("ok: a device logged in later received the room key it needed")
        finally:
            for client in clients:
                await client.close()

        # The server relayed ciphertext only: no plaintext anywhere in its database files.
        server.stop()
        data = server.dir / "data"
        files = [p for p in data.rglob("*") if p.is_file() and p.name.startswith("homeserver.db")]
        assert files, f"no database files under {data}"
        for path in files:
            content = path.read_bytes()
            for secret in (secret_ab, secret_ba, secret_new):
                assert secret.encode() not in content, f"plaintext found in {path}"
        print(f"ok: {len(files)} database files hold no plaintext")


if __name__ == "__main__":
    asyncio.run(main())

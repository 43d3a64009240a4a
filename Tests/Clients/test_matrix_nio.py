#!/usr/bin/env python3
"""matrix-nio (the Python client library from PyPI) against a real `hearth serve` process.

What a member's client does, end to end over HTTP: register with m.login.dummy, create a room,
invite and join, exchange messages, sync incrementally (and long-poll), paginate the whole
history back with /messages with no gap or duplicate, upload and download media, and see the
other member's typing notices and read receipts.

Run: .venv/bin/python3 Tests/Clients/test_matrix_nio.py   (Scripts/test.sh runs it)
Needs .build/debug/hearth (or $HEARTH_BIN); builds nothing itself.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess  # noqa: E402

from nio.api import ReceiptType  # noqa: E402
from nio import (  # noqa: E402
    AsyncClient, AsyncClientConfig, DownloadResponse, InviteMemberEvent, JoinResponse, LoginResponse, MessageDirection,
    ReceiptEvent, RegisterResponse, RoomCreateResponse, RoomInviteResponse, RoomMessagesResponse,
    RoomMessageText, RoomSendResponse, SyncResponse, TypingNoticeEvent, UploadResponse,
)

SERVER: HearthProcess


def setUpModule() -> None:
    global SERVER
    SERVER = HearthProcess().start()


def tearDownModule() -> None:
    if SERVER.stop() != 0:
        raise AssertionError(f"hearth did not exit cleanly on SIGTERM:\n{SERVER.log_tail()}")
    SERVER.cleanup()


def client_config() -> AsyncClientConfig:
    # nio retries refused connections and timeouts forever by default; a broken server must
    # fail the suite, not hang it.
    return AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False, max_timeouts=2,
                             max_limit_exceeded=2, max_timeout_retry_wait_time=2, request_timeout=30)


class NioTestCase(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.clients: list[AsyncClient] = []
        self.passwords: dict[str, str] = {}

    async def asyncTearDown(self) -> None:
        for client in self.clients:
            await client.close()

    async def register(self, name: str) -> AsyncClient:
        client = AsyncClient(SERVER.base_url, config=client_config())
        self.clients.append(client)
        localpart = f"{name}_{secrets.token_hex(4)}"
        response = await client.register(localpart, f"pw-{localpart}", device_name=f"{name}'s nio")
        self.assertIsInstance(response, RegisterResponse, f"register {localpart}: {response}")
        self.assertEqual(client.user_id, f"@{localpart}:{SERVER.server_name}")
        self.assertTrue(client.access_token)
        self.passwords[client.user_id] = f"pw-{localpart}"
        return client

    async def initial_sync(self, client: AsyncClient, **kwargs) -> SyncResponse:
        response = await client.sync(timeout=0, full_state=True, **kwargs)
        self.assertIsInstance(response, SyncResponse, str(response))
        return response

    async def sync_until(self, client: AsyncClient, predicate, seconds: float = 20) -> list[SyncResponse]:
        """Incremental syncs (long-polling 5 s each) until `predicate(response)` holds; every
        response seen, so callers can check what arrived on the way."""
        seen: list[SyncResponse] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            response = await client.sync(timeout=5000)
            self.assertIsInstance(response, SyncResponse, str(response))
            seen.append(response)
            if predicate(response):
                return seen
        self.fail(f"{client.user_id}: condition not met by sync within {seconds}s")

    async def shared_room(self) -> tuple[AsyncClient, AsyncClient, str]:
        """alice creates a private room and invites bob; bob sees the invite by sync and joins."""
        alice, bob = await self.register("alice"), await self.register("bob")
        await self.initial_sync(alice)
        await self.initial_sync(bob)
        created = await alice.room_create(name="nio room", topic="real clients")
        self.assertIsInstance(created, RoomCreateResponse, str(created))
        room_id = created.room_id
        invited = await alice.room_invite(room_id, bob.user_id)
        self.assertIsInstance(invited, RoomInviteResponse, str(invited))

        def has_invite(response: SyncResponse) -> bool:
            room = response.rooms.invite.get(room_id)
            return room is not None and any(
                isinstance(e, InviteMemberEvent) and e.state_key == bob.user_id and e.membership == "invite"
                for e in room.invite_state)
        await self.sync_until(bob, has_invite)
        joined = await bob.join(room_id)
        self.assertIsInstance(joined, JoinResponse, str(joined))
        self.assertEqual(joined.room_id, room_id)
        return alice, bob, room_id

    async def send_text(self, client: AsyncClient, room_id: str, body: str) -> str:
        response = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        self.assertIsInstance(response, RoomSendResponse, str(response))
        self.assertTrue(response.event_id.startswith("$"))
        return response.event_id


def texts(response: SyncResponse, room_id: str) -> list[tuple[str, str]]:
    room = response.rooms.join.get(room_id)
    if room is None:
        return []
    return [(e.sender, e.body) for e in room.timeline.events if isinstance(e, RoomMessageText)]


class Conversation(NioTestCase):
    async def test_invite_join_and_exchange_messages_by_incremental_sync(self) -> None:
        alice, bob, room_id = await self.shared_room()
        # bob's join reaches alice as a membership change in the room's timeline.
        await self.sync_until(alice, lambda r: room_id in r.rooms.join and any(
            getattr(e, "membership", None) == "join" and e.state_key == bob.user_id
            for e in r.rooms.join[room_id].timeline.events))
        self.assertEqual(alice.rooms[room_id].name, "nio room")
        self.assertIn(bob.user_id, alice.rooms[room_id].users)

        sent = [f"hello bob #{i}" for i in range(3)]
        for body in sent:
            await self.send_text(alice, room_id, body)
        received: list[tuple[str, str]] = []
        await self.sync_until(bob, lambda r: (received.extend(texts(r, room_id)), len(received) >= 3)[1])
        self.assertEqual(received, [(alice.user_id, b) for b in sent], "bob sees alice's messages once, in order")

        reply = "hello alice"
        await self.send_text(bob, room_id, reply)
        got: list[tuple[str, str]] = []
        await self.sync_until(alice, lambda r: (got.extend(texts(r, room_id)), any(b == reply for _, b in got))[1])
        # alice had not synced since sending: her own three messages, then bob's reply.
        self.assertEqual(got, [(alice.user_id, b) for b in sent] + [(bob.user_id, reply)])

        # bob's next sync brings only his own reply; after that, nothing is ever repeated.
        catch_up = await bob.sync(timeout=200)
        self.assertIsInstance(catch_up, SyncResponse)
        self.assertEqual(texts(catch_up, room_id), [(bob.user_id, reply)])
        for client in (alice, bob):
            quiet = await client.sync(timeout=200)
            self.assertIsInstance(quiet, SyncResponse)
            self.assertEqual(texts(quiet, room_id), [], "an incremental sync does not repeat old events")

    async def test_long_poll_wakes_when_a_message_is_sent(self) -> None:
        alice, bob, room_id = await self.shared_room()
        await bob.sync(timeout=0)
        body = f"wake up {secrets.token_hex(3)}"
        started = time.monotonic()
        poll = asyncio.create_task(bob.sync(timeout=25_000))
        await asyncio.sleep(0.5)
        self.assertFalse(poll.done(), "the long poll waits while nothing happens")
        await self.send_text(alice, room_id, body)
        response = await asyncio.wait_for(poll, 20)
        self.assertIn((alice.user_id, body), texts(response, room_id))
        # It returned because of the event, well before its 25 s timeout.
        self.assertLess(time.monotonic() - started, 20)


class History(NioTestCase):
    async def test_whole_history_paginates_back_and_forward_without_gap_or_duplicate(self) -> None:
        alice, bob, room_id = await self.shared_room()
        count = 130
        sent_ids = [await self.send_text(alice if i % 3 else bob, room_id, f"history {i}") for i in range(count)]
        self.assertEqual(len(set(sent_ids)), count)

        # bob logs in on a second device (m.login.password) and syncs with a small timeline
        # window: the sync is `limited` and hands out a prev_batch token to paginate from.
        fresh = AsyncClient(SERVER.base_url, bob.user_id, config=client_config())
        self.clients.append(fresh)
        login = await fresh.login(self.passwords[bob.user_id], device_name="bob's second device")
        self.assertIsInstance(login, LoginResponse, str(login))
        self.assertNotEqual(fresh.device_id, bob.device_id)
        initial = await fresh.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 5}}})
        self.assertIsInstance(initial, SyncResponse, str(initial))
        timeline = initial.rooms.join[room_id].timeline
        self.assertTrue(timeline.limited)
        self.assertEqual([e.event_id for e in timeline.events], sent_ids[-5:])

        # Events sent after the sync must not leak into backward pagination from prev_batch.
        later = [await self.send_text(alice, room_id, f"after sync {i}") for i in range(4)]

        backwards = [e.event_id for e in reversed(timeline.events)]
        types: dict[str, str] = {}
        token, pages = timeline.prev_batch, 0
        while True:
            page = await fresh.room_messages(room_id, start=token, direction=MessageDirection.back, limit=17)
            self.assertIsInstance(page, RoomMessagesResponse, str(page))
            pages += 1
            backwards.extend(e.event_id for e in page.chunk)
            types.update((e.event_id, e.source["type"]) for e in page.chunk)
            if not page.end or not page.chunk:
                break
            token = page.end
            self.assertLess(pages, 100, "pagination does not terminate")
        self.assertEqual(len(backwards), len(set(backwards)), "no event twice")
        history = list(reversed(backwards))
        for event_id in later:
            self.assertNotIn(event_id, history)
        self.assertEqual(history[-count:], sent_ids, "every message, in order, none missing")
        self.assertGreaterEqual(len(history) - count, 5, "creation, membership, power levels, join rules... come first")
        self.assertEqual(types[history[0]], "m.room.create", "pagination reaches the very first event")

        # Forward from the start of the room (no `from`): the same history, then the later messages.
        forwards: list[str] = []
        token = None
        while True:
            page = await fresh.room_messages(room_id, start=token, direction=MessageDirection.front, limit=23)
            self.assertIsInstance(page, RoomMessagesResponse, str(page))
            forwards.extend(e.event_id for e in page.chunk)
            if not page.chunk or not page.end:
                break
            token = page.end
            self.assertLess(len(forwards), 1000, "pagination does not terminate")
        self.assertEqual(forwards, history + later)


class Media(NioTestCase):
    async def test_upload_and_download_bytes_and_share_them_in_the_room(self) -> None:
        alice, bob, room_id = await self.shared_room()
        payload = os.urandom(300_000) + b"\x00end"
        uploaded, _ = await alice.upload(lambda *_: payload, content_type="application/octet-stream",
                                         filename="notes.bin", filesize=len(payload))
        self.assertIsInstance(uploaded, UploadResponse, str(uploaded))
        mxc = uploaded.content_uri
        self.assertTrue(mxc.startswith(f"mxc://{SERVER.server_name}/"), mxc)

        for client in (alice, bob):
            downloaded = await client.download(mxc)
            self.assertIsInstance(downloaded, DownloadResponse, str(downloaded))
            self.assertEqual(downloaded.body, payload, "the bytes come back unchanged")
            self.assertEqual(downloaded.content_type, "application/octet-stream")
            self.assertEqual(downloaded.filename, "notes.bin")

        text = "a small text file\n".encode()
        uploaded_text, _ = await alice.upload(lambda *_: text, content_type="text/plain", filename="readme.txt",
                                              filesize=len(text))
        self.assertIsInstance(uploaded_text, UploadResponse, str(uploaded_text))
        got = await bob.download(uploaded_text.content_uri)
        self.assertIsInstance(got, DownloadResponse, str(got))
        self.assertEqual(got.body, text)
        self.assertTrue(got.content_type.startswith("text/plain"), got.content_type)

        content = {"msgtype": "m.file", "body": "notes.bin", "url": mxc, "info": {"size": len(payload)}}
        sent = await alice.room_send(room_id, "m.room.message", content)
        self.assertIsInstance(sent, RoomSendResponse, str(sent))

        def has_file(response: SyncResponse) -> bool:
            room = response.rooms.join.get(room_id)
            return room is not None and any(e.event_id == sent.event_id and e.source["content"].get("url") == mxc
                                            for e in room.timeline.events)
        await self.sync_until(bob, has_file)

        missing = await bob.download(f"mxc://{SERVER.server_name}/NoSuchMedia{secrets.token_hex(4)}")
        self.assertNotIsInstance(missing, DownloadResponse, "unknown media is an error, not bytes")


class TypingAndReceipts(NioTestCase):
    async def test_each_sees_the_others_typing_and_read_receipts(self) -> None:
        alice, bob, room_id = await self.shared_room()
        await alice.sync(timeout=0)
        await bob.sync(timeout=0)

        def typing_users(response: SyncResponse) -> list[list[str]]:
            room = response.rooms.join.get(room_id)
            return [e.users for e in room.ephemeral if isinstance(e, TypingNoticeEvent)] if room else []

        await alice.room_typing(room_id, True, timeout=30_000)
        await self.sync_until(bob, lambda r: any(alice.user_id in users for users in typing_users(r)))
        await bob.room_typing(room_id, True, timeout=30_000)
        await self.sync_until(alice, lambda r: any(bob.user_id in users for users in typing_users(r)))
        await alice.room_typing(room_id, False)
        await self.sync_until(bob, lambda r: any(alice.user_id not in users and bob.user_id in users
                                                 for users in typing_users(r)))

        event_id = await self.send_text(alice, room_id, "please read this")
        await self.sync_until(bob, lambda r: any(e.event_id == event_id for e in
                                                 (r.rooms.join[room_id].timeline.events if room_id in r.rooms.join else [])))

        def receipts(response: SyncResponse) -> list[tuple[str, str, str]]:
            room = response.rooms.join.get(room_id)
            return [(r.user_id, r.event_id, r.receipt_type) for e in (room.ephemeral if room else [])
                    if isinstance(e, ReceiptEvent) for r in e.receipts]

        marked = await bob.update_receipt_marker(room_id, event_id)
        self.assertFalse(getattr(marked, "status_code", None), str(marked))
        await self.sync_until(alice, lambda r: (bob.user_id, event_id, "m.read") in receipts(r))

        reply = await self.send_text(bob, room_id, "read it")
        await alice.room_read_markers(room_id, fully_read_event=reply, read_event=reply)
        await self.sync_until(bob, lambda r: (alice.user_id, reply, "m.read") in receipts(r))
        # A private receipt is only for its owner: bob must never see it.
        private_target = await self.send_text(bob, room_id, "private receipt target")
        await alice.update_receipt_marker(room_id, private_target, receipt_type=ReceiptType.read_private)
        seen = await self.sync_until(alice, lambda r: (alice.user_id, private_target, "m.read.private") in receipts(r))
        self.assertTrue(seen)
        later = await bob.sync(timeout=500)
        self.assertNotIn((alice.user_id, private_target, "m.read.private"), receipts(later))


if __name__ == "__main__":
    unittest.main(verbosity=2)

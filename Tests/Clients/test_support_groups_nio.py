#!/usr/bin/env python3
"""Support-group features as an ordinary Matrix client meets them, with matrix-nio against a
real `hearth serve` process (it knows nothing of Hearth):

- joining a room with a confidentiality agreement fails with M_CONSENT_NOT_GIVEN and a
  consent_uri; opening that page and pressing the button (as a person in a browser would) lets
  the join through;
- a member opens a direct chat with @anonymous and posts anonymously into the group; the other
  members see the post from "Anonymous", not from the member, and the command message is gone
  from the member's chat;
- a message with m.self_destruct_after disappears for everyone when its time comes.

Run: .venv/bin/python3 Tests/Clients/test_support_groups_nio.py   (Scripts/test.sh runs it)
"""
from __future__ import annotations

import asyncio
import html.parser
import secrets
import sys
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess  # noqa: E402
from test_matrix_nio import client_config  # noqa: E402

from nio import (  # noqa: E402
    AsyncClient, JoinError, JoinResponse, RegisterResponse, RoomCreateResponse,
    RoomMessagesResponse, RoomSendResponse,
)

SERVER: HearthProcess


def setUpModule() -> None:
    global SERVER
    # Expiry passes run every second here, so a self-destructing message goes quickly.
    SERVER = HearthProcess(extra="retention:\n  purge_interval: 1s\n").start()


def tearDownModule() -> None:
    if SERVER.stop() != 0:
        raise AssertionError(f"hearth did not exit cleanly on SIGTERM:\n{SERVER.log_tail()}")
    SERVER.cleanup()


class HiddenFields(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden":
            self.fields[attributes["name"]] = attributes.get("value", "")


def accept_in_browser(consent_uri: str) -> None:
    """What a person does with the link: open it, press the button."""
    parts = urllib.parse.urlsplit(consent_uri)
    page_url = f"{SERVER.base_url}{parts.path}?{parts.query}"
    with urllib.request.urlopen(page_url, timeout=10) as response:
        page = response.read().decode()
    form = HiddenFields()
    form.feed(page)
    assert set(form.fields) == {"room", "user", "h", "version"}, page
    data = urllib.parse.urlencode(form.fields).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{SERVER.base_url}/_hearth/consent", data=data), timeout=10) as response:
        assert response.status == 200


class SupportGroup(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.clients: list[AsyncClient] = []

    async def asyncTearDown(self) -> None:
        for client in self.clients:
            await client.close()

    async def register(self, name: str) -> AsyncClient:
        client = AsyncClient(SERVER.base_url, config=client_config())
        self.clients.append(client)
        localpart = f"{name}_{secrets.token_hex(4)}"
        response = await client.register(localpart, f"pw-{localpart}")
        self.assertIsInstance(response, RegisterResponse, str(response))
        return client

    async def bodies(self, client: AsyncClient, room_id: str) -> list[tuple[str, str]]:
        response = await client.room_messages(room_id, start="", limit=100)
        self.assertIsInstance(response, RoomMessagesResponse, str(response))
        return [(event.sender, getattr(event, "body", "")) for event in reversed(response.chunk)
                if getattr(event, "source", {}).get("type") == "m.room.message"]

    async def eventually(self, what: str, condition, seconds: float = 20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            result = await condition()
            if result:
                return result
            await asyncio.sleep(0.2)
        self.fail(f"timed out waiting until {what}")

    async def test_agreement_then_anonymous_post_then_disappearing_message(self) -> None:
        facilitator = await self.register("facilitator")
        member = await self.register("member")
        created = await facilitator.room_create(name="Peer group", preset=None, initial_state=[
            {"type": "org.hearth.agreement", "state_key": "", "content": {"version": "1", "text": "What is shared here stays here."}},
            {"type": "org.hearth.pseudonyms", "state_key": "", "content": {"enabled": True}},
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}},
        ])
        self.assertIsInstance(created, RoomCreateResponse, str(created))
        room = created.room_id

        # The agreement, as any client meets it.
        refused = await member.join(room)
        self.assertIsInstance(refused, JoinError)
        self.assertEqual(refused.status_code, "M_CONSENT_NOT_GIVEN")
        consent_uri = refused.transport_response and (await refused.transport_response.json()).get("consent_uri")
        self.assertTrue(consent_uri and "/_hearth/consent?" in consent_uri, consent_uri)
        accept_in_browser(consent_uri)
        self.assertIsInstance(await member.join(room), JoinResponse)

        # An anonymous post through the relay.
        relay = f"@anonymous:{SERVER.server_name}"
        dm = await member.room_create(is_direct=True, invite=[relay])
        self.assertIsInstance(dm, RoomCreateResponse, str(dm))

        async def relay_joined():
            return any(sender == relay for sender, _ in await self.bodies(member, dm.room_id))
        await self.eventually("the relay greets the member", relay_joined)
        sent = await member.room_send(dm.room_id, "m.room.message", {"msgtype": "m.text", "body": f"anon {room} I could not sleep again"})
        self.assertIsInstance(sent, RoomSendResponse, str(sent))

        async def posted():
            return [entry for entry in await self.bodies(facilitator, room) if entry[1] == "I could not sleep again"]
        (sender, _), = await self.eventually("the anonymous post appears", posted)
        self.assertNotEqual(sender, member.user_id)
        profile = await facilitator.get_displayname(sender)
        self.assertEqual(profile.displayname, "Anonymous")

        async def command_gone():
            return not any("I could not sleep again" in body for _, body in await self.bodies(member, dm.room_id))
        await self.eventually("the command leaves the member's chat", command_gone)

        # A message that destroys itself two seconds from now.
        expires = int(time.time() * 1000) + 2000
        sent = await member.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "gone soon",
                                                                "m.self_destruct_after": expires})
        self.assertIsInstance(sent, RoomSendResponse, str(sent))
        self.assertIn((member.user_id, "gone soon"), await self.bodies(facilitator, room))

        async def vanished():
            return (member.user_id, "gone soon") not in await self.bodies(facilitator, room)
        await self.eventually("the message disappears for the other members", vanished)


if __name__ == "__main__":
    unittest.main(verbosity=2)

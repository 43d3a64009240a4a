#!/usr/bin/env python3
"""kill -9 during a burst of sends loses no event a client was told was sent.

Several clients send messages into one room as fast as they can (several requests in flight
each). After a random number of acknowledgements the server gets SIGKILL: no shutdown hook,
no flush. It restarts on the same data directory, and then:
 * every send that had returned 200 with an event_id is there: GET /rooms/{id}/event/{eventId}
   returns it with the body that was sent, and /messages over the whole room lists it once;
 * the clients retry every send they had no answer for, with the same transaction IDs (what a
   client does after a dropped connection): a retry of an acknowledged send returns the same
   event_id, and afterwards every message is in the room exactly once;
 * the room keeps working: a new send after the restart comes after all of them.
The rounds crash the same database again and again (DURABILITY_ROUNDS, default 5), and each
round re-checks every event acknowledged in every earlier round.

Run: .venv/bin/python3 Tests/Clients/test_kill9_durability.py   (Scripts/test.sh runs it)
"""
from __future__ import annotations

import asyncio
import os
import random
import secrets
import sys
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess, request  # noqa: E402

ROUNDS = int(os.environ.get("DURABILITY_ROUNDS", "5"))
CLIENTS = 6
IN_FLIGHT_PER_CLIENT = 3


@dataclass
class Sender:
    user_id: str
    token: str
    acked: dict[str, str] = field(default_factory=dict)      # txn_id -> event_id
    unanswered: set[str] = field(default_factory=set)        # txn_ids sent, no answer

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def body_of(user_id: str, txn_id: str) -> str:
    return f"{user_id} {txn_id}"


class KillNineDurability(unittest.TestCase):
    def setUp(self) -> None:
        self.server = HearthProcess()
        self.server.start()
        self.senders = [self.register(f"burst{i}_{secrets.token_hex(3)}") for i in range(CLIENTS)]
        owner = self.senders[0]
        status, body = request(self.server.base_url, "POST", "/_matrix/client/v3/createRoom", owner.token,
                               {"preset": "public_chat", "name": "durability"})
        self.assertEqual(status, 200, body)
        self.room_id = body["room_id"]
        for sender in self.senders[1:]:
            status, body = request(self.server.base_url, "POST", f"/_matrix/client/v3/join/{quote(self.room_id)}",
                                   sender.token, {})
            self.assertEqual(status, 200, body)

    def tearDown(self) -> None:
        self.server.cleanup()

    def register(self, localpart: str) -> Sender:
        status, body = request(self.server.base_url, "POST", "/_matrix/client/v3/register",
                               body={"username": localpart, "password": "pw-" + localpart,
                                     "auth": {"type": "m.login.dummy"}})
        self.assertEqual(status, 200, body)
        return Sender(body["user_id"], body["access_token"])

    def send_path(self, txn_id: str) -> str:
        return f"/_matrix/client/v3/rooms/{quote(self.room_id)}/send/m.room.message/{quote(txn_id)}"

    async def burst(self, round_number: int, kill_after: int) -> int:
        """Sends until `kill_after` acknowledgements, SIGKILLs the server, and returns how many
        sends were in flight when it died."""
        acks = 0
        killed = asyncio.Event()

        async def one_stream(session: aiohttp.ClientSession, sender: Sender, lane: int) -> None:
            nonlocal acks
            for n in range(100_000):
                if killed.is_set():
                    return
                txn_id = f"r{round_number}-l{lane}-{n}-{secrets.token_hex(2)}"
                sender.unanswered.add(txn_id)
                content = {"msgtype": "m.text", "body": body_of(sender.user_id, txn_id)}
                try:
                    async with session.put(self.server.base_url + self.send_path(txn_id), json=content,
                                           headers=sender.headers) as response:
                        reply = await response.json()
                        if response.status != 200:
                            raise AssertionError(f"send answered {response.status}: {reply}")
                except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError):
                    self.assertTrue(killed.is_set(), "a send failed before the server was killed")
                    return
                sender.unanswered.discard(txn_id)
                sender.acked[txn_id] = reply["event_id"]
                acks += 1
                if acks >= kill_after and not killed.is_set():
                    killed.set()
                    self.server.kill()          # SIGKILL, mid-burst: other lanes still have requests out

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await asyncio.gather(*(one_stream(session, sender, lane)
                                   for sender in self.senders for lane in range(IN_FLIGHT_PER_CLIENT)))
        self.assertTrue(killed.is_set())
        return sum(len(s.unanswered) for s in self.senders)

    async def retry_unanswered_and_some_acked(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async def resend(sender: Sender, txn_id: str) -> str:
                content = {"msgtype": "m.text", "body": body_of(sender.user_id, txn_id)}
                async with session.put(self.server.base_url + self.send_path(txn_id), json=content,
                                       headers=sender.headers) as response:
                    reply = await response.json()
                    self.assertEqual(response.status, 200, reply)
                    return reply["event_id"]

            for sender in self.senders:
                for txn_id in sorted(sender.unanswered):
                    sender.acked[txn_id] = await resend(sender, txn_id)
                sender.unanswered.clear()
                for txn_id in random.sample(sorted(sender.acked), min(5, len(sender.acked))):
                    self.assertEqual(await resend(sender, txn_id), sender.acked[txn_id],
                                     "a retried transaction returns the event it created, not a new one")

    def whole_room(self) -> list[dict]:
        """Every event of the room, oldest first, by paginating /messages backwards from the end."""
        events: list[dict] = []
        token = None
        for _ in range(10_000):
            query = "dir=b&limit=250" + (f"&from={quote(token)}" if token else "")
            status, page = request(self.server.base_url, "GET",
                                   f"/_matrix/client/v3/rooms/{quote(self.room_id)}/messages?{query}",
                                   self.senders[0].token)
            self.assertEqual(status, 200, page)
            events.extend(page["chunk"])
            if not page["chunk"] or "end" not in page:
                return list(reversed(events))
            token = page["end"]
        self.fail("/messages did not reach the start of the room")

    def check_every_acknowledged_event(self) -> None:
        for sender in self.senders:
            for txn_id, event_id in sender.acked.items():
                status, event = request(self.server.base_url, "GET",
                                        f"/_matrix/client/v3/rooms/{quote(self.room_id)}/event/{quote(event_id)}",
                                        sender.token)
                self.assertEqual(status, 200, f"acknowledged event {event_id} is gone after kill -9: {event}")
                self.assertEqual(event["content"]["body"], body_of(sender.user_id, txn_id))
                self.assertEqual(event["sender"], sender.user_id)
        events = self.whole_room()
        ids = [e["event_id"] for e in events]
        self.assertEqual(len(ids), len(set(ids)), "/messages lists no event twice")
        listed = set(ids)
        for sender in self.senders:
            missing = [e for e in sender.acked.values() if e not in listed]
            self.assertEqual(missing, [], "every acknowledged event is in /messages")
        bodies = [e["content"].get("body") for e in events if e["type"] == "m.room.message"]
        self.assertEqual(len(bodies), len(set(bodies)), "no message was stored twice")

    def test_kill_during_burst_loses_no_acknowledged_event(self) -> None:
        total_in_flight = 0
        for round_number in range(ROUNDS):
            in_flight = asyncio.run(self.burst(round_number, kill_after=random.randint(60, 250)))
            total_in_flight += in_flight
            acked = sum(len(s.acked) for s in self.senders)
            print(f"round {round_number}: killed with {in_flight} sends unanswered; {acked} acknowledged so far",
                  flush=True)
            self.server.start()
            self.check_every_acknowledged_event()
            asyncio.run(self.retry_unanswered_and_some_acked())
            self.check_every_acknowledged_event()
        self.assertGreater(total_in_flight, 0, "the kills happened mid-burst, with sends still unanswered")

        status, body = request(self.server.base_url, "PUT", self.send_path("after-the-crashes"), self.senders[1].token,
                               {"msgtype": "m.text", "body": "still here"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.whole_room()[-1]["event_id"], body["event_id"], "new events come after all earlier ones")
        self.assertEqual(self.server.stop(), 0, "clean SIGTERM shutdown after the crashes")


if __name__ == "__main__":
    unittest.main(verbosity=2)

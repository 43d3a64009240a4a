#!/usr/bin/env python3
"""Federation throughput between two Hearth servers over TLS on loopback, with the egress gate
as configured (the organization policy evaluated and every decision audited) and with the
gate's benchmark baseline (allows everything, records nothing). Prints JSON.

Used by Scripts/bench-federation.sh; needs a release `hearth` binary and openssl.
"""
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HEARTH = sys.argv[1]
MESSAGES = int(os.environ.get("MESSAGES", "1000"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "8"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(directory):
    def run(*args):
        subprocess.run(args, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench-ca",
        "-keyout", f"{directory}/ca.key", "-out", f"{directory}/ca.crt")
    with open(f"{directory}/ext.cnf", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", f"{directory}/server.key", "-out", f"{directory}/server.csr")
    run("openssl", "x509", "-req", "-in", f"{directory}/server.csr", "-CA", f"{directory}/ca.crt", "-CAkey", f"{directory}/ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{directory}/ext.cnf", "-out", f"{directory}/server.crt")


class Server:
    def __init__(self, root, name, ca_dir, baseline):
        self.port = free_port()
        self.name = f"localhost:{self.port}"
        self.dir = f"{root}/{name}"
        os.makedirs(self.dir)
        self.config = f"{self.dir}/homeserver.yaml"
        with open(self.config, "w") as f:
            f.write(f"""
server_name: "{self.name}"
public_baseurl: "https://localhost:{self.port}/"
data_directory: "{self.dir}/data"
listeners:
  - port: {self.port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: true
    resources:
      - names: [client, federation]
tls_certificate_path: "{ca_dir}/server.crt"
tls_private_key_path: "{ca_dir}/server.key"
federation_custom_ca_list: ["{ca_dir}/ca.crt"]
ip_range_whitelist: ['127.0.0.0/8']
enable_registration: false
bcrypt_rounds: 4
log_level: warning
rc_message:
  per_second: 100000
  burst_count: 100000
""")
        self.ssl = ssl.create_default_context(cafile=f"{ca_dir}/ca.crt")
        args = [HEARTH, "serve", "--config", self.config] + (["--benchmark-gate-baseline"] if baseline else [])
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(f"{self.dir}/log.txt", "w"))
        for _ in range(300):
            try:
                self.call("GET", "/_matrix/client/versions")
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{name} did not start")

    def call(self, method, path, body=None, token=None):
        request = urllib.request.Request(f"https://localhost:{self.port}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, context=self.ssl, timeout=60) as response:
            return json.loads(response.read() or b"{}")

    def user(self, localpart):
        subprocess.run([HEARTH, "register-user", "--config", self.config, "--user", localpart, "--password", "bench-pw"],
                       check=True, capture_output=True)
        answer = self.call("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}, "password": "bench-pw"})
        return answer["access_token"]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def one_round(baseline):
    root = tempfile.mkdtemp(prefix="hearth-fedbench-")
    try:
        make_ca(root)
        a = Server(root, "a", root, baseline)
        b = Server(root, "b", root, baseline)
        try:
            alice = a.user("alice")
            bob = b.user("bob")
            room = a.call("POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat"}, alice)["room_id"]
            quoted = urllib.parse.quote(room)
            b.call("POST", f"/_matrix/client/v3/join/{quoted}?server_name={urllib.parse.quote(a.name)}", {}, bob)
            since = b.call("GET", "/_matrix/client/v3/sync?timeout=0", token=bob)["next_batch"]

            counter = iter(range(MESSAGES))
            lock = threading.Lock()

            def sender():
                while True:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    a.call("PUT", f"/_matrix/client/v3/rooms/{quoted}/send/m.room.message/t{n}",
                           {"msgtype": "m.text", "body": f"message {n}"}, alice)

            start = time.monotonic()
            threads = [threading.Thread(target=sender) for _ in range(CONCURRENCY)]
            for thread in threads:
                thread.start()
            received = set()
            # A timeline limit above the burst, so no sync is `limited` (a gap would need /messages).
            sync_filter = urllib.parse.quote(json.dumps({"room": {"timeline": {"limit": MESSAGES}}}))
            while len(received) < MESSAGES:
                answer = b.call("GET", f"/_matrix/client/v3/sync?timeout=5000&since={since}&filter={sync_filter}", token=bob)
                for joined in answer.get("rooms", {}).get("join", {}).values():
                    assert not joined.get("timeline", {}).get("limited"), "a limited sync: raise the timeline limit"
                since = answer["next_batch"]
                for event in answer.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {}).get("events", []):
                    body = event.get("content", {}).get("body", "")
                    if body.startswith("message "):
                        received.add(body)
                if time.monotonic() - start > 600:
                    raise RuntimeError(f"only {len(received)} of {MESSAGES} arrived")
            elapsed = time.monotonic() - start
            for thread in threads:
                thread.join()
            return MESSAGES / elapsed
        finally:
            a.stop()
            b.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


results = {"baseline": [], "gate": []}
for _ in range(ROUNDS):
    # Alternate, so drift in the machine's load affects both alike.
    results["baseline"].append(one_round(baseline=True))
    results["gate"].append(one_round(baseline=False))
summary = {mode: statistics.median(values) for mode, values in results.items()}
print(json.dumps({"messages": MESSAGES, "concurrency": CONCURRENCY, "rounds": ROUNDS, "runs": results,
                  "median_events_per_second": summary,
                  "gate_overhead_percent": 100 * (1 - summary["gate"] / summary["baseline"])}, indent=2))

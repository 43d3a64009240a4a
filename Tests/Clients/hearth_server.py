"""Runs a real `hearth serve` process for the real-client suites in Tests/Clients.

The suites build nothing: they start the binary Scripts/test.sh already built
(`.build/debug/hearth`, or $HEARTH_BIN) with a generated configuration on a free loopback port
and a temporary data directory, and talk to it over HTTP like any client would.
Only the standard library is imported here, so the helper works in any interpreter.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answering(base_url: str, process: subprocess.Popen[bytes], timeout: float, name: str, log_tail) -> None:
    """Polls `/_matrix/client/versions` until the server answers; fails if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} during startup:\n{log_tail()}")
        try:
            with urllib.request.urlopen(f"{base_url}/_matrix/client/versions", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{name} did not answer within {timeout}s:\n{log_tail()}")
        time.sleep(0.05)


def hearth_binary() -> Path:
    binary = Path(os.environ.get("HEARTH_BIN", ROOT / ".build" / "debug" / "hearth"))
    if not binary.exists():
        raise SystemExit(f"{binary} does not exist; build it first (swift build --product hearth)")
    return binary


class TestCA:
    """A certificate authority made with openssl for one test run, and one certificate for
    localhost/127.0.0.1 that every federating test server presents."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hearth-test-ca-"))
        d = self.dir

        def run(*args: str) -> None:
            subprocess.run(args, check=True, capture_output=True)
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=hearth-test-ca",
            "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
        (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
        run("openssl", "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext.cnf"), "-out", str(d / "server.crt"))
        self.ca_file = d / "ca.crt"
        self.cert_file = d / "server.crt"
        self.key_file = d / "server.key"

    def federation_config(self, port: int) -> str:
        """YAML for a TLS listener on `port` (the server name's port) serving federation, and
        trust in this CA; loopback is allowed for federation (it is refused by default)."""
        return f"""
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: true
    resources:
      - names: [federation]
tls_certificate_path: "{self.cert_file}"
tls_private_key_path: "{self.key_file}"
federation_custom_ca_list: ["{self.ca_file}"]
ip_range_whitelist: ['127.0.0.0/8']
"""

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class HearthProcess:
    """One Hearth server: its config, data directory, log file and process.

    `server_name` defaults to `localhost:PORT`; pass `server_name="localhost"` for clients that
    cannot handle a port in IDs (matrix-commander). `extra` is appended to the YAML verbatim.
    """

    def __init__(self, server_name: str | None = None, extra: str = "", data_dir: Path | None = None,
                 port: int | None = None, federation: TestCA | None = None) -> None:
        self.port = port or free_port()
        # A federating server is named after its TLS federation port; clients use plain HTTP.
        self.federation_port = free_port() if federation else None
        self.server_name = server_name or f"localhost:{self.federation_port or self.port}"
        self.federation = federation
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._owns_dir = data_dir is None
        self.dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="hearth-client-test-"))
        self.shared_secret = "client-suite-secret"
        self.config_path = self.dir / "homeserver.yaml"
        self.log_path = self.dir / "hearth.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.config_path.write_text(self._config(extra))

    def _config(self, extra: str) -> str:
        # Rate limits are raised so the suites measure behaviour, not the limiter; bcrypt's
        # cost is the minimum so registering many users stays fast in CI.
        return f"""server_name: "{self.server_name}"
public_baseurl: "http://localhost:{self.port}/"
data_directory: "{self.dir}/data"
listeners:
  - port: {self.port}
    bind_addresses: ['127.0.0.1']
    type: http
    resources:
      - names: [client]{self.federation.federation_config(self.federation_port) if self.federation else ""}
enable_registration: true
registration_shared_secret: "{self.shared_secret}"
bcrypt_rounds: 4
log_level: warning
rc_message:
  per_second: 100000
  burst_count: 100000
{extra}"""

    def start(self, timeout: float = 60) -> "HearthProcess":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(hearth_binary()), "serve", "--config", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        log.close()
        wait_until_answering(self.base_url, self.process, timeout, "hearth", self.log_tail)
        return self

    def call(self, method: str, path: str, body=None, token: str | None = None):
        """A client-API request; the JSON answer (an HTTP error raises)."""
        request = urllib.request.Request(f"{self.base_url}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush; what a power cut or OOM kill leaves behind."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; the exit status (0 for a clean shutdown)."""
        if not self.process or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"hearth ignored SIGTERM for {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cleanup(self) -> None:
        self.kill()
        if self._owns_dir and not os.environ.get("KEEP_HEARTH_DATA"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "HearthProcess":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            print(f"--- hearth log ({self.log_path}) ---\n{self.log_tail()}")
        self.cleanup()


def request(base_url: str, method: str, path: str, token: str | None = None, body: object = None,
            timeout: float = 30) -> tuple[int, dict]:
    """A blocking JSON request with urllib; (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base_url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"raw": text.decode(errors="replace")}


class SynapseProcess:
    """A real Synapse (from PyPI, in the test environment's .venv) on loopback, federating over
    TLS with a certificate from `ca`, trusting that CA, with open registration for test users.
    Clients use its plain HTTP listener (`base_url`); other servers reach it as
    `localhost:PORT` over TLS."""

    def __init__(self, ca: TestCA, log_level: str = "INFO") -> None:
        self.port = free_port()
        self.client_port = free_port()
        self.server_name = f"localhost:{self.port}"
        self.base_url = f"http://127.0.0.1:{self.client_port}"
        self.dir = Path(tempfile.mkdtemp(prefix="hearth-synapse-"))
        self.process: subprocess.Popen[bytes] | None = None
        relaxed = "{per_second: 1000, burst_count: 1000}"
        (self.dir / "homeserver.yaml").write_text(f"""server_name: "{self.server_name}"
public_baseurl: "https://localhost:{self.port}/"
pid_file: "{self.dir}/homeserver.pid"
report_stats: false
listeners:
  - {{port: {self.port}, bind_addresses: ['127.0.0.1'], type: http, tls: true, x_forwarded: false,
     resources: [{{names: [client, federation], compress: false}}]}}
  - {{port: {self.client_port}, bind_addresses: ['127.0.0.1'], type: http, tls: false, x_forwarded: false,
     resources: [{{names: [client], compress: false}}]}}
tls_certificate_path: "{ca.cert_file}"
tls_private_key_path: "{ca.key_file}"
database: {{name: sqlite3, args: {{database: "{self.dir}/homeserver.db"}}}}
log_config: "{self.dir}/log.yaml"
media_store_path: "{self.dir}/media"
signing_key_path: "{self.dir}/signing.key"
macaroon_secret_key: "test-macaroon"
form_secret: "test-form"
enable_registration: true
enable_registration_without_verification: true
trusted_key_servers: []
suppress_key_server_warning: true
ip_range_whitelist: ['127.0.0.0/8', '::1/128']
federation_verify_certificates: true
federation_custom_ca_list: ["{ca.ca_file}"]
federation:
  destination_min_retry_interval: 1s
  destination_retry_multiplier: 2
  destination_max_retry_interval: 5s
rc_message: {relaxed}
rc_registration: {relaxed}
rc_login: {{address: {relaxed}, account: {relaxed}, failed_attempts: {relaxed}}}
rc_joins: {{local: {relaxed}, remote: {relaxed}}}
rc_invites: {{per_room: {relaxed}, per_user: {relaxed}, per_issuer: {relaxed}}}
rc_federation: {{window_size: 1000, sleep_limit: 1000, sleep_delay: 0, reject_limit: 10000, concurrent: 100}}
""")
        (self.dir / "log.yaml").write_text(f"""version: 1
formatters: {{precise: {{format: '%(asctime)s %(name)s %(levelname)s %(message)s'}}}}
handlers: {{file: {{class: logging.FileHandler, formatter: precise, filename: "{self.dir}/homeserver.log"}}}}
root: {{level: {log_level}, handlers: [file]}}
disable_existing_loggers: false
""")
        python = ROOT / ".venv" / "bin" / "python3"
        subprocess.run([str(python), "-m", "synapse.app.homeserver", "-c", str(self.dir / "homeserver.yaml"), "--generate-keys"],
                       check=True, capture_output=True, cwd=self.dir)
        self.python = python

    def start(self, timeout: float = 90) -> "SynapseProcess":
        log = open(self.dir / "stdout.log", "ab")
        self.process = subprocess.Popen([str(self.python), "-m", "synapse.app.homeserver", "-c", str(self.dir / "homeserver.yaml")],
                                        stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        wait_until_answering(self.base_url, self.process, timeout, "synapse", self.log_tail)
        return self

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join((self.dir / "homeserver.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self) -> None:
        self.stop()
        if not os.environ.get("KEEP_HEARTH_DATA"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "SynapseProcess":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            print(f"--- synapse log ({self.dir}) ---\n{self.log_tail()}")
        self.cleanup()

"""Replay recorded Jenkins REST exchanges from a local HTTP server, strictly; or record new ones.

No Jenkins runs in the test environment: the `mlops jenkins` tests talk to this server, which
answers only the exchanges written in a recording (tests/jenkins_recordings/*.json):

    {
      "description": "what the client does in this scenario",
      "response_headers": {"X-Jenkins": "2.462.3"},          # added to every response
      "exchanges": [
        {"request": {"method": "POST",
                     "path": "/job/train-model/buildWithParameters?DATASET=wine",  # query compared as a multiset
                     "headers": {"Authorization": "Basic *", "Jenkins-Crumb": "5a1e..."},  # fnmatch patterns
                     "body": ""},                                                   # optional, exact
         "response": {"status": 201, "headers": {"Location": "{{base_url}}queue/item/42/"}, "body": ""},
         "repeat": false}
      ]
    }

A request is matched against the exchanges with the same method, path and query, in file order:
the first one not served yet answers it; once all are served, the last one answers again only if
it says `"repeat": true` (a finished build stays finished). Responses give `json`, `body` or
`body_lines`; `{{base_url}}` becomes this server's URL. Anything else — an unrecorded request, a
missing or different expected header or body — is answered 500 and kept in `unexpected`;
`assert_clean()` fails on those and on recorded exchanges the client never asked for.

    python tests/support/jenkins_replay.py serve tests/jenkins_recordings/trigger_success.json
    python tests/support/jenkins_replay.py record --upstream https://jenkins.example.com --out new.json

`record` is a forwarding proxy: point `mlops jenkins ... --url` at the address it prints, use the
real user and token, stop it with Ctrl-C (or SIGTERM) and it writes the exchanges in the format above, with
credentials replaced by `Basic *` and the Jenkins URL by `{{base_url}}`.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import json
import re
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

RECORDINGS = Path(__file__).resolve().parents[1] / "jenkins_recordings"
BASE_URL = "{{base_url}}"


@dataclass
class ReceivedRequest:
    """One request as it arrived; `problem` is set when it was not served from the recording."""

    method: str
    path: str  # path and query, as sent
    headers: dict[str, str]
    body: str
    exchange: int | None = None
    problem: str | None = None

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.path).query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def _split(path: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(path)
    return parts.path, sorted(parse_qsl(parts.query, keep_blank_values=True))


def _substitute(value: Any, base_url: str) -> Any:
    if isinstance(value, str):
        return value.replace(BASE_URL, base_url)
    if isinstance(value, list):
        return [_substitute(v, base_url) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, base_url) for k, v in value.items()}
    return value


def load_recording(name: str | Path) -> dict[str, Any]:
    path = Path(name)
    if not path.suffix:
        path = RECORDINGS / f"{name}.json"
    elif not path.exists():
        path = RECORDINGS / path
    return json.loads(path.read_text(encoding="utf-8"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False


class JenkinsReplay:
    """A strict fake Jenkins serving one recording on 127.0.0.1:<random port>."""

    def __init__(self, recording: str | Path | dict[str, Any]) -> None:
        self.recording = recording if isinstance(recording, dict) else load_recording(recording)
        self.exchanges: list[dict[str, Any]] = self.recording["exchanges"]
        self.default_headers: dict[str, str] = self.recording.get("response_headers", {})
        self.served = [0] * len(self.exchanges)
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> JenkinsReplay:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                status, headers, payload = replay._answer(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="jenkins-replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> JenkinsReplay:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server, "replay server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- matching --

    def _answer(self, method: str, path: str, headers: dict[str, str], body: str) -> tuple[int, list[tuple[str, str]], bytes]:
        received = ReceivedRequest(method, path, headers, body)
        with self._lock:
            self.requests.append(received)
            index, problem = self._match(received)
            if problem is not None:
                received.problem = problem
                return 500, [("Content-Type", "text/plain;charset=utf-8"), ("X-Replay-Unexpected", "1")], \
                    f"jenkins_replay: unexpected request {method} {path}: {problem}\n".encode()
            received.exchange = index
            self.served[index] += 1
        return self._response(self.exchanges[index]["response"])

    def _match(self, received: ReceivedRequest) -> tuple[int, str | None]:
        route, query = _split(received.path)
        candidates = [i for i, ex in enumerate(self.exchanges)
                      if ex["request"]["method"].upper() == received.method.upper()
                      and _split(ex["request"]["path"]) == (route, query)]
        if not candidates:
            return -1, "no recorded exchange for this method, path and query"
        fresh = [i for i in candidates if self.served[i] == 0]
        if fresh:
            index = fresh[0]
        elif self.exchanges[candidates[-1]].get("repeat"):
            index = candidates[-1]
        else:
            return -1, f"all {len(candidates)} recorded answer(s) already used (none marked repeat)"
        expected = self.exchanges[index]["request"]
        for name, pattern in (expected.get("headers") or {}).items():
            value = received.header(name)
            if value is None:
                return -1, f"header {name} missing (recording #{index} expects {pattern!r})"
            if not fnmatch.fnmatchcase(value, pattern):
                return -1, f"header {name} is {value!r}, recording #{index} expects {pattern!r}"
        if "body" in expected and received.body != expected["body"]:
            return -1, f"body {received.body!r} differs from recording #{index}"
        return index, None

    def _response(self, response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        base = self.url + "/"
        headers = {**self.default_headers, **(response.get("headers") or {})}
        if "json" in response:
            payload = json.dumps(_substitute(response["json"], base)).encode()
            headers.setdefault("Content-Type", "application/json;charset=utf-8")
        elif "body_lines" in response:
            payload = "".join(line + "\n" for line in _substitute(response["body_lines"], base)).encode()
        else:
            payload = _substitute(response.get("body", ""), base).encode()
        return int(response.get("status", 200)), [(k, _substitute(v, base)) for k, v in headers.items()], payload

    # -- what the tests look at --

    @property
    def unexpected(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.problem]

    def unused(self) -> list[str]:
        return [f"#{i} {ex['request']['method']} {ex['request']['path']}"
                for i, ex in enumerate(self.exchanges) if not self.served[i]]

    def received(self, method: str, route: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.method == method and r.route == route]

    def assert_clean(self, allow_unused: bool = False) -> None:
        problems = [f"unexpected: {r.method} {r.path}: {r.problem}" for r in self.unexpected]
        if not allow_unused:
            problems += [f"never requested: {u}" for u in self.unused()]
        assert not problems, "Jenkins replay mismatch:\n  " + "\n  ".join(problems)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- recording from a real Jenkins ------------------------------------------------------

KEEP_RESPONSE_HEADERS = ("Location", "Content-Type", "X-Jenkins", "X-Jenkins-Session", "Set-Cookie",
                         "WWW-Authenticate", "X-Text-Size", "X-More-Data")
EXPECT_REQUEST_HEADERS = ("Jenkins-Crumb", "Cookie")


class JenkinsRecorder:
    """A forwarding proxy that writes what passes through as a replay recording."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/") + "/"
        self.exchanges: list[dict[str, Any]] = []
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._server: _Server | None = None

    def start(self) -> JenkinsRecorder:
        import requests

        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                forward = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "accept-encoding")}
                upstream = requests.request(self.command, recorder.upstream + self.path.lstrip("/"), headers=forward,
                                           data=body, allow_redirects=False, timeout=60)
                own = f"http://127.0.0.1:{self.server.server_address[1]}/"
                payload = upstream.content.replace(recorder.upstream.encode(), own.encode())
                headers = [(k, v.replace(recorder.upstream, own)) for k, v in upstream.headers.items()
                           if k.lower() in {h.lower() for h in KEEP_RESPONSE_HEADERS}]
                recorder._record(self.command, self.path, dict(self.headers.items()), body, upstream)
                self.send_response(upstream.status_code)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                print(f"recorded {self.command} {self.path}", file=sys.stderr)

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes, upstream: Any) -> None:
        expect: dict[str, str] = {}
        for name, value in headers.items():
            if name.lower() == "authorization":
                scheme, _, credentials = value.partition(" ")
                expect["Authorization"] = f"{scheme} *"  # never store credentials
                self._secrets.add(credentials)
                if scheme.lower() == "basic":
                    with_token = base64.b64decode(credentials + "==").decode("utf-8", "replace")
                    self._secrets.add(with_token.partition(":")[2])
            elif name.lower() in {h.lower() for h in EXPECT_REQUEST_HEADERS}:
                expect[name] = value
        request: dict[str, Any] = {"method": method, "path": path, "headers": expect}
        if method in ("POST", "PUT"):
            request["body"] = body.decode("utf-8", "replace")
        response: dict[str, Any] = {"status": upstream.status_code, "headers": {
            k: v.replace(self.upstream, BASE_URL) for k, v in upstream.headers.items()
            if k.lower() in {h.lower() for h in KEEP_RESPONSE_HEADERS}}}
        text = upstream.text.replace(self.upstream, BASE_URL)
        try:
            response["json"] = json.loads(text)
        except ValueError:
            response["body"] = text
        with self._lock:
            self.exchanges.append({"request": request, "response": response})

    def recording(self, description: str = "") -> dict[str, Any]:
        text = json.dumps({"description": description, "recorded_from": "live Jenkins via jenkins_replay.py record",
                           "exchanges": self.exchanges}, indent=2, ensure_ascii=False)
        for secret in filter(None, self._secrets):
            text = re.sub(re.escape(secret), "***", text)
        return json.loads(text)

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="replay a recording until Ctrl-C")
    serve.add_argument("recording")
    record = commands.add_parser("record", help="proxy to a real Jenkins and write what passes through")
    record.add_argument("--upstream", required=True, help="the real Jenkins root URL")
    record.add_argument("--out", required=True, help="recording file to write")
    record.add_argument("--description", default="")
    args = parser.parse_args(argv)
    stop = threading.Event()
    if args.command == "serve":
        server: Any = JenkinsReplay(args.recording).start()
    else:
        server = JenkinsRecorder(args.upstream).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # `kill PID` stops it cleanly too
    print(f"listening on {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    if args.command == "record":
        Path(args.out).write_text(json.dumps(server.recording(args.description), indent=2, ensure_ascii=False) + "\n",
                                  encoding="utf-8")
        print(f"wrote {len(server.exchanges)} exchanges to {args.out}", file=sys.stderr)
    else:
        for problem in [f"unexpected: {r.method} {r.path}: {r.problem}" for r in server.unexpected] + \
                       [f"never requested: {u}" for u in server.unused()]:
            print(problem, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(_main())

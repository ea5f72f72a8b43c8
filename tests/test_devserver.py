"""A4: the development server (`make run`'s web process) never logs a request for a voter's
page or ballot, whatever its status, while other requests are logged as usual."""

import logging
import socket
import threading
import urllib.error
import urllib.request

import pytest
from werkzeug.serving import make_server

from ballot_service.devserver import QuietVoterRequestHandler

STATUSES = [200, 301, 302, 304, 400, 403, 404, 405, 409, 413, 429, 500, 503]


def by_status(environ, start_response):
    """/<anything>/<status>: answers with that status."""
    status = int(environ["PATH_INFO"].rsplit("/", 1)[-1])
    start_response(f"{status} X", [("Content-Length", "0")])
    return [b""]


@pytest.fixture
def server():
    httpd = make_server("127.0.0.1", 0, by_status, threaded=True, request_handler=QuietVoterRequestHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_port
    httpd.shutdown()


def fetch(port: int, path: str) -> None:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
    except urllib.error.HTTPError:
        pass


def raw(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(data)
        connection.recv(4096)


def test_voter_requests_are_never_logged_at_any_status(server, caplog):
    caplog.set_level(logging.DEBUG, logger="werkzeug")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    urllib.request.install_opener(urllib.request.build_opener(NoRedirect))
    try:
        for status in STATUSES:
            fetch(server, f"/o/ABC234/{status}")
            fetch(server, f"/o/ABC234/ballot/{status}")
            fetch(server, f"/media/photos/ABC234-{status}_t.jpg/{status}")
            fetch(server, f"/healthz/{status}")
    finally:
        urllib.request.install_opener(None)
    raw(server, b"GET /o/ABC234 HTTP/9.9\r\n\r\n")  # a request line werkzeug refuses: its error line
    raw(server, b"GET /healthz HTTP/9.9\r\n\r\n")
    lines = [record.getMessage() for record in caplog.records]
    assert not [line for line in lines if "ABC234" in line]
    logged = [line for line in lines if "/healthz" in line]
    assert len(logged) == len(STATUSES) + 1  # the others are logged, errors included
    # The error line names no path but still pairs an address with a time: only /healthz's is written.
    assert sum("Invalid HTTP version" in line for line in lines) == 1


def test_make_runs_web_process_serves_with_the_quiet_handler(monkeypatch):
    """Procfile.dev's `web:` is devserver.main: it must serve through the handler tested above."""
    import ballot_service
    from ballot_service import devserver

    served = {}
    monkeypatch.setattr(ballot_service, "create_app", lambda: "the app")
    monkeypatch.setattr(devserver, "run_simple", lambda *args, **kwargs: served.update(args=args, **kwargs))
    devserver.main()
    assert served["args"][2] == "the app" and served["request_handler"] is QuietVoterRequestHandler

"""The development web process of `make run` (Procfile.dev): werkzeug's server, whose request
handler never logs a request for a voter's page or ballot (A4).

Werkzeug logs every request with the client's address and the time; a line for /o/<code>, or
for the photos that page loads from /media/, would pair a voter's address with an office and a
moment. The handler decides on the request's
own path, before any line is written, so no status, colouring or error line lets one through.
"""

import os

from werkzeug.serving import WSGIRequestHandler, run_simple

# The office page and its ballot, and the photos the page loads (a person's photo names the office).
VOTER_PATHS = ("/o/", "/media/")


class QuietVoterRequestHandler(WSGIRequestHandler):
    def _about_a_voter(self) -> bool:
        # `path` is missing when the request line could not be parsed; the line itself is then
        # all there is to go by.
        path = getattr(self, "path", None) or getattr(self, "requestline", "").partition(" ")[2]
        return path.startswith(VOTER_PATHS)

    def log_request(self, code="-", size="-") -> None:
        if not self._about_a_voter():
            super().log_request(code, size)

    def log_error(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if not self._about_a_voter():
            super().log_error(format, *args)


def main() -> None:
    from . import create_app

    run_simple("127.0.0.1", int(os.environ.get("PORT", "5000")), create_app(), threaded=True,
               request_handler=QuietVoterRequestHandler)


if __name__ == "__main__":
    main()

"""A local HTTP server speaking WeChat's web-authorisation protocol (snsapi_base), for tests.

GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state
    -> 302 to redirect_uri?code=<code>&state=<state> (silent: no consent page for snsapi_base)
GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code
    -> {"access_token", "expires_in", "refresh_token", "openid", "scope"} (plus
       "is_snapshotuser": 1 and a virtual openid, for a snapshot page)
       or {"errcode": 40029, "errmsg": "invalid code"}, 40163 "code been used",
       40013 "invalid appid", 40125 "invalid appsecret"
"""

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class WeChatStub:
    def __init__(self, appid: str, secret: str, openid: str):
        self.appid, self.secret, self.openid = appid, secret, openid
        self.codes: dict[str, bool] = {}  # code -> used
        self.requests: list[str] = []
        self.fail_with: int | None = None  # force an errcode on the token exchange
        self.snapshot = False  # answer as for a snapshot page: is_snapshotuser 1, a virtual openid
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                stub.requests.append(url.path)
                if url.path == "/connect/oauth2/authorize":
                    stub.handle_authorize(self, query)
                elif url.path == "/sns/oauth2/access_token":
                    stub.handle_token(self, query)
                else:
                    self.send_error(404)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle_authorize(self, handler, query):
        if query.get("appid") != self.appid or query.get("scope") != "snsapi_base" or \
                query.get("response_type") != "code" or "redirect_uri" not in query:
            handler.send_response(400)
            handler.end_headers()
            handler.wfile.write("参数错误".encode())
            return
        code = secrets.token_hex(8)
        self.codes[code] = False
        handler.send_response(302)
        handler.send_header("Location", f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}")
        handler.end_headers()

    def handle_token(self, handler, query):
        if query.get("appid") != self.appid:
            body = {"errcode": 40013, "errmsg": "invalid appid"}
        elif query.get("secret") != self.secret:
            body = {"errcode": 40125, "errmsg": "invalid appsecret"}
        elif self.fail_with:
            body = {"errcode": self.fail_with, "errmsg": "forced"}
        elif query.get("code") not in self.codes:
            body = {"errcode": 40029, "errmsg": "invalid code"}
        elif self.codes[query["code"]]:
            body = {"errcode": 40163, "errmsg": "code been used"}
        else:
            self.codes[query["code"]] = True
            body = {"access_token": "ACCESS", "expires_in": 7200, "refresh_token": "REFRESH",
                    "openid": self.openid, "scope": "snsapi_base"}
            if self.snapshot:
                body.update(openid="o" + secrets.token_hex(14), is_snapshotuser=1)
        data = json.dumps(body).encode()
        handler.send_response(200)  # WeChat reports errors in the body, with HTTP 200
        handler.send_header("Content-Type", "application/json; encoding=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def close(self):
        self.server.shutdown()

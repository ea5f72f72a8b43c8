"""Pushing published results to subscribers: signed webhooks, retried through RQ.

Request: POST <url>, JSON body (the round, every result, every consequence), headers
  X-Sanliang-Delivery:  the delivery id — the same on every retry (idempotency key)
  X-Sanliang-Timestamp: Unix seconds of this attempt
  X-Sanliang-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
A 2xx answer delivers; anything else is logged as an attempt and retried with backoff.

Receivers are on the public internet: a URL whose host is, or resolves to, a loopback,
private, link-local (169.254.169.254) or otherwise non-public address is refused when it is
registered and again at every delivery, which connects to the very address it checked (no
second look-up for DNS to change under it) and follows no redirects. WEBHOOK_ALLOW_PRIVATE
lifts this for a receiver on the city's own network (and for tests).
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import time
import uuid
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from ..domain.access import Place, Scope
from ..domain.review import Decision
from ..domain.round_states import RoundStatus
from ..extensions import db
from ..models import ConsequenceRecord, Result, Round, WebhookAttempt, WebhookDelivery, WebhookSubscriber
from . import rounds

TIMEOUT = 10


class DeliveryFailed(Exception):
    """The receiver did not accept the delivery; RQ will retry the job."""


class TargetRefused(ValueError):
    """The receiver's URL is not one results may be sent to; the message is for people."""


def add_subscriber(name: str, url: str, secret: str | None = None, within: Scope | None = None) -> WebhookSubscriber:
    """Register a receiver of published results; without a secret, a random one is made (the
    caller shows `subscriber.secret` once). A subscriber gets every region's results, so only a
    scope that covers the whole city (`within`, the creator's) may add one."""
    if within is not None and not within.covers(Place(None)):
        raise ValueError("不在您的管理范围内")
    subscriber = WebhookSubscriber(name=name, url=checked_url(url), secret=secret or secrets.token_hex(32))
    db.session.add(subscriber)
    db.session.flush()  # the caller commits
    return subscriber


def update_subscriber(subscriber: WebhookSubscriber, name: str | None = None, url: str | None = None,
                      active: bool | None = None) -> WebhookSubscriber:
    if url is not None:
        subscriber.url = checked_url(url)
    if name is not None:
        subscriber.name = name
    if active is not None:
        subscriber.active = active
    db.session.flush()  # the caller commits
    return subscriber


def checked_url(url: str) -> str:
    """The URL, if results may be sent there: http(s), a host, no user name, and no address that
    is not public. A host name that does not resolve (yet) passes; each delivery checks again."""
    parts, port = _parts(url)
    try:
        _public_address(parts.hostname, port)
    except _Unresolved:
        pass
    return url


def _parts(url: str):
    """The URL split, and its port: http(s), a host, no user name (else TargetRefused)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise TargetRefused("地址必须以 http:// 或 https:// 开头")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise TargetRefused("地址中的端口号无效") from None
    if not parts.hostname:
        raise TargetRefused("地址缺少主机名")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("地址不能包含用户名或密码")
    return parts, port


class _Unresolved(TargetRefused):
    pass


def _public_address(host: str, port: int) -> str:
    """The address to connect to for `host`: every address it resolves to must be public."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _Unresolved("无法解析地址中的主机名") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
    if not current_app.config["WEBHOOK_ALLOW_PRIVATE"] and not all(_is_public(a) for a in addresses):
        raise TargetRefused("不能推送到本机、内网或链路本地地址（如 127.0.0.1、10.0.0.0/8、192.168.0.0/16、"
                            "169.254.169.254）；如确需推送到本单位内网，请由系统管理员设置 WEBHOOK_ALLOW_PRIVATE")
    return str(addresses[0])


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NOT_PUBLIC_V6 = (ipaddress.ip_network("::/96"), ipaddress.ip_network("fec0::/10"))  # IPv4-compatible, site-local


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Public, and so is any IPv4 address it carries (mapped, 6to4, Teredo, NAT64): a NAT64
    gateway turns 64:ff9b::a9fe:a9fe into 169.254.169.254."""
    if address.version == 6:
        if any(address in network for network in _NOT_PUBLIC_V6):
            return False
        carried = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if address in _NAT64:
            carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(v4 is not None and not v4.is_global for v4 in carried):
            return False
    return address.is_global


class _Pinned(http.client.HTTPConnection):
    """HTTP to an address checked beforehand; the Host header still names the URL's host."""

    def __init__(self, host: str, port: int, address: str):
        super().__init__(host, port, timeout=TIMEOUT)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """HTTPS to an address checked beforehand; the certificate is checked against the URL's host."""

    def __init__(self, host: str, port: int, address: str):
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=TIMEOUT, context=self.tls)
        self.address = address

    def connect(self) -> None:
        self.sock = self.tls.wrap_socket(socket.create_connection((self.address, self.port), self.timeout),
                                         server_hostname=self.host)


def _post(url: str, body: bytes, headers: dict) -> int:
    """POST to the receiver, connecting to the address checked; its HTTP status (redirects are
    answers, not followed)."""
    parts, port = _parts(url)
    pinned = _PinnedTLS if parts.scheme.lower() == "https" else _Pinned
    connection = pinned(parts.hostname, port, _public_address(parts.hostname, port))  # one look-up
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
        return connection.getresponse().status
    finally:
        connection.close()


def payload(round_: Round) -> dict:
    def number(value):
        return None if value is None else str(value)

    results = db.session.scalars(select(Result).where(Result.round_id == round_.id)
                                 .order_by(Result.subject_kind, Result.subject_id))
    consequences = db.session.scalars(select(ConsequenceRecord).where(
        ConsequenceRecord.round_id == round_.id, ConsequenceRecord.decision == Decision.CONFIRMED)
        .order_by(ConsequenceRecord.id))
    return {
        "round": {"id": round_.id, "name": round_.name, "region_id": round_.region_id, "digest": round_.digest},
        "results": [{"subject": r.subject_kind, "id": r.subject_id, "department_id": r.department_id,
                     "score": number(r.score), "grade": r.grade, "rank": r.rank, "scored": r.scored,
                     "unknown": r.unknown, "counts": r.counts, "previous_grade": r.previous_grade,
                     "steps": r.steps, "low_sample": r.low_sample, "uncertain": r.uncertain} for r in results],
        "consequences": [{"kind": c.kind, "subject": c.subject_kind, "id": c.subject_id, "people": c.people,
                          "includes_department": c.includes_department, "deduction_each": c.deduction_each,
                          "actions": c.actions, "authority": c.authority} for c in consequences],
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def delivery_for(subscriber_id: int, round_id: int) -> WebhookDelivery:
    """The delivery of a round to a subscriber, created once (so its id stays the same)."""
    delivery = db.session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.subscriber_id == subscriber_id, WebhookDelivery.round_id == round_id))
    if delivery is None:
        delivery = WebhookDelivery(id=uuid.uuid4().hex, subscriber_id=subscriber_id, round_id=round_id)
        db.session.add(delivery)
        db.session.commit()
    return delivery


def deliver(subscriber_id: int, round_id: int) -> str:
    """One attempt to deliver; raises DeliveryFailed (after logging it) so RQ retries."""
    subscriber = db.session.get(WebhookSubscriber, subscriber_id)
    round_ = db.session.get(Round, round_id)
    if round_ is None or round_.status != RoundStatus.PUBLISHED:  # a publish rolled back, or not committed yet
        raise DeliveryFailed("该轮次尚未发布，不推送")
    delivery = delivery_for(subscriber_id, round_id)
    if delivery.status == "delivered":
        return delivery.id
    body = json.dumps(payload(round_), ensure_ascii=False, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Sanliang-Delivery": delivery.id,
        "X-Sanliang-Timestamp": timestamp,
        "X-Sanliang-Signature": sign(subscriber.secret, timestamp, body),
    }
    status, error = None, None
    try:
        status = _post(subscriber.url, body, headers)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except TargetRefused as exc:  # nothing was sent
        error = str(exc)
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    db.session.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=rounds.utcnow(), status_code=status,
                                  error=error))
    if status is not None and 200 <= status < 300:
        delivery.status = "delivered"
    db.session.commit()
    if delivery.status != "delivered":
        raise DeliveryFailed(error or f"HTTP {status}")
    return delivery.id


def enqueue_push(round_id: int) -> list:
    """One job per active subscriber, job id push-<round>-<subscriber> (never queued twice)."""
    from .. import jobs

    subscribers = db.session.scalars(select(WebhookSubscriber.id).where(WebhookSubscriber.active)).all()
    return [jobs.push.enqueue(sid, round_id) for sid in subscribers]

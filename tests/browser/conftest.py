"""Pages checked in a real browser: Debian's headless Chromium, phone viewport, WeChat UA.

Where chromium is absent the tests skip, except under CI (CI=true), where a skip would
hide a missing install step, so they fail instead.
"""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; V2183A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 "
    "XWEB/1160065 MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F35) "
    "WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"
)
ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "..", "test-artifacts")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + " — required in CI")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def guarded_page(context, live_server):
    """A page of the context that refuses (and records in `outside_requests`) every request
    leaving the host."""
    page = context.new_page()
    page.outside_requests = []

    def guard(route):
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            page.outside_requests.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return page


@pytest.fixture
def phone(browser, live_server):
    """A WeChat-like phone page that refuses (and records) every request leaving the host."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=WECHAT_UA,
                                  device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN")
    yield guarded_page(context, live_server)
    context.close()

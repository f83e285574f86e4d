#!/usr/bin/env python3
"""The code + PKCE flow, driven the same way against Etupass and the reference provider
(benches/compare.sh): each flow is a fresh browser (no cookies) that opens the
authorization URL, signs in on the provider's own form, follows the redirects to the
client's redirect URI, and redeems the code at the token endpoint with HTTP Basic.

    flow.py KIND BASE CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD FLOWS THREADS

KIND is `etupass` (GET /authorize, POST /login) or `peer` (oidc-provider: GET /auth, its
interaction form, POST /interaction/UID, GET /auth/UID). Prints `FLOWS SECONDS`; any
failed flow stops the run with its reason. FLOWS 0 runs one flow and prints its access
token. Standard library only.
"""
import base64
import hashlib
import html
import http.client
import re
import secrets
import sys
import threading
import time
import urllib.parse

KIND, BASE, CLIENT_ID, SECRET, REDIRECT, USERNAME, PASSWORD = sys.argv[1:8]
FLOWS, THREADS = int(sys.argv[8]), int(sys.argv[9])
HOST = urllib.parse.urlsplit(BASE).netloc
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
FORM = "application/x-www-form-urlencoded"


class Browser:
    """One connection, a cookie jar, no automatic redirects."""

    def __init__(self):
        self.conn = http.client.HTTPConnection(HOST, timeout=30)
        self.cookies = {}

    def request(self, method, target, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            body = urllib.parse.urlencode(body)
            headers["Content-Type"] = FORM
        self.conn.request(method, target, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response.getheader("Location"), text


def path_of(location):
    parts = urllib.parse.urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def field(page, name):
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else None


def one_flow():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT,
        "scope": "openid profile", "state": "s", "nonce": "n",
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    browser = Browser()
    if KIND == "etupass":
        status, _, page = browser.request("GET", f"/authorize?{query}")
        assert status == 200, f"/authorize answered {status}"
        status, location, _ = browser.request("POST", "/login", {
            "csrf_token": field(page, "csrf_token"), "request": field(page, "request") or "",
            "username": USERNAME, "password": PASSWORD,
        })
    else:
        status, location, _ = browser.request("GET", f"/auth?{query}")
        assert status in (302, 303), f"/auth answered {status}"
        status, _, page = browser.request("GET", path_of(location))
        action = re.search(r'action="([^"]+)"', page).group(1)
        status, location, _ = browser.request("POST", action, {
            "prompt": "login", "login": USERNAME, "password": PASSWORD,
        })
        while location and not location.startswith(REDIRECT):
            status, location, _ = browser.request("GET", path_of(location))
    assert location and location.startswith(REDIRECT), f"no redirect to the client ({status})"
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    token = Browser()
    status, _, answer = token.request("POST", "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }, {"Authorization": BASIC})
    assert status == 200 and "id_token" in answer, f"/token answered {status}: {answer[:200]}"
    return re.search(r'"access_token":"([^"]+)"', answer).group(1)


def worker(count, failures):
    for _ in range(count):
        try:
            one_flow()
        except Exception as error:  # the run stops and says why
            failures.append(repr(error))
            return


if FLOWS == 0:  # one flow, for the bearer token the userinfo run needs
    print(one_flow())
    sys.exit(0)
failures = []
threads = [threading.Thread(target=worker, args=(FLOWS // THREADS, failures)) for _ in range(THREADS)]
started = time.monotonic()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
if failures:
    sys.exit(f"flow failed: {failures[0]}")
print(FLOWS // THREADS * THREADS, f"{time.monotonic() - started:.3f}")

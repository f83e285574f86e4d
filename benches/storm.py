#!/usr/bin/env python3
"""A storm of concurrent sign-ins against a running Etupass, while its memory is sampled.

    storm.py BASE SERVER_PID USERNAME PASSWORD COUNT

COUNT browsers each fetch the sign-in page (CSRF cookie and token), wait for the others,
then all post the password at once. /proc/SERVER_PID/status VmRSS is sampled every 20 ms
from before the storm to its end. Prints the answers by status, the wall time, and the
RSS before, at its peak, and after. Standard library only.
"""
import collections
import html
import http.client
import re
import sys
import threading
import time
import urllib.parse

BASE, PID, USERNAME, PASSWORD, COUNT = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
HOST = urllib.parse.urlsplit(BASE).netloc


def rss_kib():
    for line in open(f"/proc/{PID}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def field(page, name):
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else ""


ready = threading.Barrier(COUNT + 1)
statuses = collections.Counter()
lock = threading.Lock()


def browser():
    conn = http.client.HTTPConnection(HOST, timeout=600)
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookies = "; ".join(v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie")
    body = urllib.parse.urlencode({
        "csrf_token": field(page, "csrf_token"), "request": field(page, "request"),
        "username": USERNAME, "password": PASSWORD,
    })
    ready.wait()
    try:
        conn.request("POST", "/login", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies})
        status = conn.getresponse().status
    except Exception as error:  # counted, not raised: the storm goes on
        status = type(error).__name__
    with lock:
        statuses[status] += 1


peak = [0]
sampling = threading.Event()


def sampler():
    while not sampling.is_set():
        peak[0] = max(peak[0], rss_kib())
        time.sleep(0.02)


threads = [threading.Thread(target=browser) for _ in range(COUNT)]
for thread in threads:
    thread.start()
before = rss_kib()
watcher = threading.Thread(target=sampler)
watcher.start()
ready.wait()
started = time.monotonic()
for thread in threads:
    thread.join()
elapsed = time.monotonic() - started
sampling.set()
watcher.join()
print(f"{COUNT} sign-ins at once: {dict(statuses)} in {elapsed:.1f} s")
print(f"RSS before {before / 1024:.0f} MiB, peak {peak[0] / 1024:.0f} MiB, after {rss_kib() / 1024:.0f} MiB")

#!/usr/bin/env python3
"""The steady-session loop of imapload -steady, written with Python's
imaplib: an outside cross-check that the Go tool's figures are not an
artefact of its IMAP client. Each client signs in once over implicit TLS
and loops: APPEND (2 KB to 200 KB), SELECT, STATUS of Sent and Drafts,
UID SEARCH SUBJECT, UID SEARCH BODY (of a token only the appended message
has), UID FETCH BODY.PEEK[] compared byte for byte, UID STORE of flags and
a keyword, STORE of \\Seen on an older message, UID FETCH 1:* (FLAGS), UID
STORE \\Deleted, EXPUNGE, NOOP. It prints the figures as imapload -json does.

usage: steady.py HOST PORT CAFILE USERSFILE CLIENTS SECONDS
"""
import base64
import imaplib
import json
import math
import random
import re
import ssl
import sys
import threading
import time

WORDS = """alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima
mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu
agenda budget caucus motion member meeting minutes branch council ballot leaflet canvass""".split()
OPS = ["SELECT", "FETCH flags", "FETCH body", "SEARCH", "STORE", "APPEND", "EXPUNGE", "STATUS", "SEARCH BODY", "NOOP"]


def words(rng, n):
    out, line = [], 0
    while n > 0:
        w = rng.choice(WORDS)
        out.append(w)
        n -= len(w) + 1
        line += len(w) + 1
        if line > 70:
            out.append("\r\n")
            line = 0
    return " ".join(out).replace(" \r\n ", "\r\n")


def message(rng, size, token):
    head = ("From: Party Member <member@example.org>\r\nTo: Branch Council <council@example.org>\r\n"
            "Subject: Re: %s %s\r\nDate: %s\r\nMessage-ID: <%x@example.org>\r\nMIME-Version: 1.0\r\n"
            % (rng.choice(WORDS), rng.choice(WORDS), time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()), rng.getrandbits(64)))
    if size <= 24 * 1024:
        text = words(rng, size // 2) + "\r\nReference: " + token + "\r\n" + words(rng, size // 2) + "\r\n"
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()
    text = words(rng, 2048) + "\r\nReference: " + token + "\r\n" + words(rng, 1024) + "\r\n"
    raw = base64.b64encode(rng.randbytes(max(0, size - 4096) * 3 // 4)).decode()
    att = "\r\n".join(raw[i:i + 76] for i in range(0, len(raw), 76))
    b = "=_steady_py"
    return (head + 'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n--%s\r\n' % (b, b) +
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text +
            "--%s\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--%s--\r\n" % (b, att, b)).encode()


class Client(threading.Thread):
    def __init__(self, i, host, port, ctx, login, password, deadline):
        super().__init__()
        self.i, self.rng, self.deadline = i, random.Random(i), deadline
        self.c = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
        self.c.login(login, password)
        typ, data = self.c.select("INBOX")
        self.base = int(data[0])
        self.times = {o: [] for o in OPS}
        self.errors, self.samples = 0, []

    def timed(self, op, fn):
        t0 = time.perf_counter()
        try:
            r = fn()
        except Exception as e:  # imaplib raises on NO and BAD
            self.errors += 1
            if len(self.samples) < 3:
                self.samples.append("client %d: %s: %s" % (self.i, op, e))
            raise
        self.times[op].append(time.perf_counter() - t0)
        return r

    def ok(self, r):
        typ, data = r
        if typ != "OK":
            raise imaplib.IMAP4.error("%s %r" % (typ, data))
        return data

    def append(self, msg):
        # imaplib's append drops the tagged response's APPENDUID code
        # (RFC 4315); send it the same way, keeping the tagged text.
        self.c.literal = msg
        tag = self.c._command("APPEND", "INBOX")
        return self.ok(self.c._command_complete("APPEND", tag))

    def round(self):
        c, rng = self.c, self.rng
        token = "zp%dq%08x" % (self.i, rng.getrandbits(32))
        msg = message(rng, int(2048 * math.pow(100, rng.random())), token)
        data = self.timed("APPEND", lambda: self.append(msg))
        m = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        if not m:
            raise imaplib.IMAP4.error("no APPENDUID in %r" % data)
        uid = m.group(1).decode()
        self.timed("SELECT", lambda: self.ok(c.select("INBOX")))
        for box in ("Sent", "Drafts"):
            self.timed("STATUS", lambda: self.ok(c.status(box, "(MESSAGES UIDNEXT UNSEEN)")))
        self.timed("SEARCH", lambda: self.ok(c.uid("SEARCH", "SUBJECT", rng.choice(WORDS))))
        found = self.timed("SEARCH BODY", lambda: self.ok(c.uid("SEARCH", "BODY", token)))
        if found[0].split() != [uid.encode()]:
            raise imaplib.IMAP4.error("SEARCH BODY found %r, want %s" % (found, uid))
        data = self.timed("FETCH body", lambda: self.ok(c.uid("FETCH", uid, "(BODY.PEEK[])")))
        bodies = [d[1] for d in data if isinstance(d, tuple)]
        if bodies != [msg]:
            raise imaplib.IMAP4.error("FETCH of UID %s returned other bytes" % uid)
        self.timed("STORE", lambda: self.ok(c.uid("STORE", uid, "+FLAGS", r"(\Seen \Flagged $Work)")))
        op = rng.choice(["+FLAGS", "-FLAGS"])
        self.timed("STORE", lambda: self.ok(c.store(str(rng.randint(1, self.base)), op, r"(\Seen)")))
        self.timed("FETCH flags", lambda: self.ok(c.uid("FETCH", "1:*", "(FLAGS)")))
        self.timed("STORE", lambda: self.ok(c.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")))
        self.timed("EXPUNGE", lambda: self.ok(c.expunge()))
        self.timed("NOOP", lambda: self.ok(c.noop()))

    def run(self):
        try:
            while time.time() < self.deadline:
                self.round()
        except Exception as e:
            if not self.samples:
                self.samples.append("client %d: %s" % (self.i, e))
                self.errors += 1
        try:
            self.c.logout()
        except Exception:
            pass


def pct(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, math.ceil(len(xs) * p) - 1))] * 1000


def main():
    host, port, cafile, users, n, seconds = sys.argv[1:7]
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    accts = [l.split(None, 1) for l in open(users).read().splitlines() if l.strip() and not l.startswith("#")]
    start = time.time()
    deadline = start + float(seconds)
    cs = [Client(i, host, port, ctx, *accts[i % len(accts)], deadline) for i in range(int(n))]
    start = time.time()
    for c in cs:
        c.deadline = start + float(seconds)
        c.start()
    for c in cs:
        c.join()
    sec = time.time() - start
    out = {"clients": int(n), "accounts": len(accts), "seconds": sec, "ops": [], "errors": sum(c.errors for c in cs), "lost": 0,
           "samples": [s for c in cs for s in c.samples][:5], "tool_cpu": 0, "busy": -1}
    allt = []
    for o in OPS:
        t = [x for c in cs for x in c.times[o]]
        allt += t
        out["ops"].append({"name": o, "count": len(t), "per_sec": len(t) / sec, "p50_ms": pct(t, .5), "p99_ms": pct(t, .99), "errors": 0})
    out["ops"].append({"name": "total", "count": len(allt), "per_sec": len(allt) / sec, "p50_ms": pct(allt, .5), "p99_ms": pct(allt, .99), "errors": out["errors"]})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

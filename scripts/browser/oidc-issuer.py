#!/usr/bin/env python3
"""A stand-in OpenID Connect issuer for the console's browser tests: discovery, JWKS, an
authorization endpoint whose page offers fixed test people (no passwords), and a token endpoint
that checks the PKCE verifier (S256) and signs RS256 tokens with a key made at start.

Usage: oidc-issuer.py PORT   (serves http://127.0.0.1:PORT/realms/test; stops after 30 min)

People:
  alice  groups [admins], realm role approver  -> may approve the onboarding workflow
  bob    no groups, no roles                   -> may not
  carol  no groups, no roles                   -> starts the run (an approver may not decide
                                                  a run they started: the initiator rule)
"""
import base64
import hashlib
import html
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PORT = int(sys.argv[1])
ISSUER = f"http://127.0.0.1:{PORT}/realms/test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "browser-test"
PEOPLE = {
    "alice": {"sub": "alice-0001", "preferred_username": "alice", "groups": ["admins"],
              "realm_access": {"roles": ["approver"]}},
    "bob": {"sub": "bob-0002", "preferred_username": "bob", "groups": [],
            "realm_access": {"roles": []}},
    "carol": {"sub": "carol-0003", "preferred_username": "carol", "groups": [],
              "realm_access": {"roles": []}},
}
CODES = {}  # code -> the login it finishes
LOCK = threading.Lock()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict) -> str:
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": KID}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = KEY.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64(signature)}"


def jwks() -> dict:
    numbers = KEY.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return {"keys": [{"kid": KID, "kty": "RSA", "alg": "RS256", "use": "sig",
                      "n": b64(n), "e": "AQAB"}]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, body, content_type="application/json", headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        base = urllib.parse.urlsplit(ISSUER).path
        if url.path == f"{base}/.well-known/openid-configuration":
            return self.send(200, json.dumps({
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/auth",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/certs",
                "code_challenge_methods_supported": ["S256"],
            }))
        if url.path == f"{base}/certs":
            return self.send(200, json.dumps(jwks()))
        if url.path == f"{base}/auth":
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                return self.send(400, "PKCE S256 required", "text/plain")
            links = "".join(
                f'<li><a id="as-{name}" href="{html.escape(base)}/decide?user={name}&amp;'
                f'{html.escape(url.query)}">Sign in as {name}</a></li>' for name in PEOPLE)
            return self.send(200, f'<!doctype html><link rel="icon" href="data:,"><title>test issuer</title><ul>{links}</ul>',
                             "text/html")
        if url.path == f"{base}/decide":
            person = query.get("user")
            if person not in PEOPLE:
                return self.send(400, "unknown person", "text/plain")
            code = secrets.token_urlsafe(24)
            with LOCK:
                CODES[code] = {"user": person, "client_id": query.get("client_id"),
                               "redirect_uri": query.get("redirect_uri"),
                               "challenge": query.get("code_challenge"),
                               "nonce": query.get("nonce"), "at": time.time()}
            target = query["redirect_uri"] + "?" + urllib.parse.urlencode(
                {"code": code, "state": query.get("state", "")})
            return self.send(302, "", "text/plain", {"Location": target})
        return self.send(404, "{}")

    def do_POST(self):
        base = urllib.parse.urlsplit(ISSUER).path
        if self.path != f"{base}/token":
            return self.send(404, "{}")
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(min(length, 65536)).decode()))
        with LOCK:
            login = CODES.pop(form.get("code", ""), None)
        if not login or time.time() - login["at"] > 60:
            return self.send(400, json.dumps({"error": "invalid_grant"}))
        verifier = form.get("code_verifier", "")
        if b64(hashlib.sha256(verifier.encode()).digest()) != login["challenge"]:
            return self.send(400, json.dumps({"error": "invalid_grant",
                                              "error_description": "PKCE verifier"}))
        if form.get("redirect_uri") != login["redirect_uri"] or \
                form.get("client_id") != login["client_id"]:
            return self.send(400, json.dumps({"error": "invalid_grant"}))
        now = int(time.time())
        person = PEOPLE[login["user"]]
        access = dict(person, iss=ISSUER, iat=now, exp=now + 900, azp=login["client_id"])
        id_token = dict(sub=person["sub"], preferred_username=person["preferred_username"],
                        iss=ISSUER, aud=login["client_id"], iat=now, exp=now + 900,
                        nonce=login["nonce"])
        return self.send(200, json.dumps({"access_token": sign(access), "id_token": sign(id_token),
                                          "token_type": "Bearer", "expires_in": 900}))


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
threading.Timer(1800, server.shutdown).start()
print(f"issuer {ISSUER} ready", flush=True)
server.serve_forever()

# receiver.py: prints each postback or webhook Parley sends, after checking both signatures.
import hashlib, hmac, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["SECRET"].encode()  # the tenant's postback_secret, or a webhook's whsec_… secret


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ts = self.headers["X-Parley-Timestamp"].encode()
        parley = "sha256=" + hmac.new(SECRET, ts + b"." + body, hashlib.sha256).hexdigest()
        leavo = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(parley, self.headers["X-Parley-Signature"]) and hmac.compare_digest(leavo, self.headers["X-Leavo-Signature"])
        self.send_response(204 if ok else 401)
        self.end_headers()
        print(self.headers["X-Parley-Delivery"], "signatures ok" if ok else "BAD SIGNATURE", body.decode(), flush=True)

    def do_GET(self):  # lets a script wait until the receiver listens
        self.send_response(204)
        self.end_headers()


host, port = sys.argv[1].split(":")
HTTPServer((host, int(port)), Receiver).serve_forever()

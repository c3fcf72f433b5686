"""GET /: what was stored, in memory and on the volume; POST /: store the body (tests/integration/test_adopting.py)."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MEMORY: list[str] = []
DISK = "/data/values"
STARTED = os.urandom(4).hex()  # a new process (a recreated container) has a new one


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        on_disk = Path(DISK).read_text().split() if os.path.exists(DISK) else []
        body = json.dumps({"memory": MEMORY, "disk": on_disk, "started": STARTED}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        value = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode().strip()
        MEMORY.append(value)
        with open(DISK, "a") as out:
            out.write(value + "\n")
        self.send_response(204)
        self.end_headers()


ThreadingHTTPServer(("0.0.0.0", 7000), Handler).serve_forever()

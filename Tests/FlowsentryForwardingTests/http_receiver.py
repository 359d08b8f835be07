#!/usr/bin/env python3
"""A scriptable HTTP receiver for flowsentry's forwarding tests.

Answers as a SIEM would (a webhook, Splunk HEC, Elasticsearch _bulk), with outages, throttling and
poisoned records on demand, and writes every document it accepted, one JSON line each."""
import argparse
import gzip
import http.server
import json
import socketserver
import threading

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--out", required=True, help="accepted documents, one JSON line each")
parser.add_argument("--log", required=True, help="one line per request: its status and record count")
parser.add_argument("--mode", choices=["webhook", "hec", "bulk"], default="webhook")
parser.add_argument("--unavailable-first", type=int, default=0, help="503 to the first N requests")
parser.add_argument("--throttle-next", type=int, default=0, help="then 429 with Retry-After: 1 to N")
parser.add_argument("--poison", help="a record containing this text is refused (400, or a per-item 400)")
parser.add_argument("--item-retry-first", type=int, default=0, help="bulk: a per-item 429 for the first item of N requests")
parser.add_argument("--require-header", help="Name:Value every request must carry, else 401")
parser.add_argument("--redirect-to", help="answer every request 307 with this Location")
parser.add_argument("--endless-body", action="store_true", help="answer 200 with a body that never ends")
arguments = parser.parse_args()

lock = threading.Lock()
state = {"requests": 0, "item_retries": arguments.item_retry_first, "ids": set()}


def records(body, mode):
    text = body.decode("utf-8")
    if mode == "bulk":
        lines = [line for line in text.split("\n") if line]
        return [(json.loads(lines[i]), json.loads(lines[i + 1])) for i in range(0, len(lines), 2)]
    if mode == "hec":
        decoder, position, found = json.JSONDecoder(), 0, []
        while position < len(text):
            while position < len(text) and text[position] in " \n\r\t":
                position += 1
            if position == len(text):
                break
            value, position = decoder.raw_decode(text, position)
            found.append((None, value))
        return found
    stripped = text.strip()
    if stripped.startswith("["):
        return [(None, value) for value in json.loads(stripped)]
    return [(None, json.loads(line)) for line in stripped.split("\n") if line]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, payload=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if arguments.redirect_to or arguments.endless_body:
            with lock:
                state["requests"] += 1
                with open(arguments.log, "a") as log:
                    log.write(json.dumps({"request": state["requests"], "path": self.path}) + "\n")
        if arguments.redirect_to:
            self.answer(307, b"", (("Location", arguments.redirect_to),))
            return
        if arguments.endless_body:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with lock:
            state["requests"] += 1
            number = state["requests"]
            status, payload, headers, accepted = self.decide(number, body)
            with open(arguments.log, "a") as log:
                log.write(json.dumps({"request": number, "status": status, "path": self.path,
                                      "authorization": self.headers.get("Authorization"),
                                      "encoding": self.headers.get("Content-Encoding")}) + "\n")
            with open(arguments.out, "a") as out:
                for document in accepted:
                    out.write(json.dumps(document) + "\n")
        self.answer(status, payload, headers)

    def decide(self, number, body):
        if arguments.require_header:
            name, value = arguments.require_header.split(":", 1)
            if self.headers.get(name) != value:
                return 401, b'{"text":"Invalid authorization"}', (), []
        if number <= arguments.unavailable_first:
            return 503, b"", (), []
        if number <= arguments.unavailable_first + arguments.throttle_next:
            return 429, b"", (("Retry-After", "1"),), []
        items = records(body, arguments.mode)
        if arguments.mode != "bulk":
            if arguments.poison and arguments.poison in body.decode("utf-8"):
                return 400, b'{"text":"Invalid data format"}', (), []
            return 200, b'{"text":"Success","code":0}', (), [document for _, document in items]
        results, accepted = [], []
        for index, (action, document) in enumerate(items):
            identifier = action["create"].get("_id")
            if arguments.poison and arguments.poison in json.dumps(document, ensure_ascii=False):
                results.append({"create": {"_id": identifier, "status": 400,
                                           "error": {"type": "document_parsing_exception"}}})
            elif identifier in state["ids"]:
                results.append({"create": {"_id": identifier, "status": 409,
                                           "error": {"type": "version_conflict_engine_exception"}}})
            elif index == 0 and state["item_retries"] > 0:
                state["item_retries"] -= 1
                results.append({"create": {"_id": identifier, "status": 429,
                                           "error": {"type": "es_rejected_execution_exception"}}})
            else:
                state["ids"].add(identifier)
                accepted.append(document)
                results.append({"create": {"_id": identifier, "status": 201}})
        errors = any(result["create"]["status"] >= 300 for result in results)
        return 200, json.dumps({"took": 1, "errors": errors, "items": results}).encode(), (), accepted


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", arguments.port), Handler).serve_forever()

#!/usr/bin/env python3
"""bmm-fake-node: a BENCHMARK STAND-IN for a Bitcoin node. Not a node.

No Bitcoin node ships in Debian, so bmm-stratum's sha256d benchmarks
(tools/bench/farm-bench.sh) run against this small JSON-RPC server instead.
It answers exactly the calls bmm-stratum makes (stratum/src/job_manager.cpp):

  getblockchaininfo, getnetworkinfo   fixed facts ("main", the template height)
  validateaddress [addr]              every address is "valid"; its scriptPubKey is a
                                      P2PKH script on the first 20 bytes of sha256(addr)
  getblocktemplate [{...}]            a template built from the real Bitcoin block
                                      413567 (tests/vectors/btc-mainnet-block-413567.raw):
                                      its 1,555 transactions and txids, version and bits;
                                      curtime is now. With a longpollid equal to the
                                      current one the call waits (at most --longpoll-max
                                      seconds) until a new block is triggered.
  submitblock [hex]                   accepts anything (answers null) and counts it
  bench_newblock                      (not a Bitcoin RPC) a new tip now: a random
                                      prevhash at height + 1; waiting long polls answer
SIGUSR1 also triggers a new tip.

Nothing is checked: not proof of work, not blocks, not addresses. Every long
poll answer is logged as one JSON line on stderr and in --events FILE:
  {"event":"longpoll_answered","unix_ms":<when the answer was fully written>,
   "start_unix_ms":<when the new tip woke the poll>,"height":H,"prevhash":"..."}
so that a benchmark can compare when miners got the clean job with when the
pool got the new block. It binds loopback only.
"""

import argparse
import base64
import hashlib
import json
import os
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def sha256d(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def read_varint(buf, pos):
    first = buf[pos]
    if first < 0xFD:
        return first, pos + 1
    size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(buf[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def split_transactions(block):
    """The raw transactions of a block without witness data (block 413567 has none)."""
    count, pos = read_varint(block, 80)
    txs = []
    for _ in range(count):
        start = pos
        pos += 4
        nin, pos = read_varint(block, pos)
        for _ in range(nin):
            pos += 36
            n, pos = read_varint(block, pos)
            pos += n + 4
        nout, pos = read_varint(block, pos)
        for _ in range(nout):
            pos += 8
            n, pos = read_varint(block, pos)
            pos += n
        pos += 4
        txs.append(block[start:pos])
    if pos != len(block):
        raise ValueError("trailing bytes after the last transaction (a block with witness data?)")
    return txs


class chain:
    """The fake tip and the template built on it."""

    def __init__(self, raw, events):
        self.cond = threading.Condition()
        self.version = struct.unpack_from("<I", raw, 0)[0]
        self.prevhash = raw[4:36][::-1].hex()
        self.bits = "%08x" % struct.unpack_from("<I", raw, 72)[0]
        self.height = 413567
        self.tip_serial = 0
        self.tip_time = time.time()
        self.submitted = 0
        self.events = events
        self.events_lock = threading.Lock()
        parts = []
        for tx in split_transactions(raw)[1:]:
            txid = sha256d(tx)[::-1].hex()
            parts.append('{"data":"%s","txid":"%s","hash":"%s","depends":[],"fee":0,"sigops":0,"weight":%d}'
                         % (tx.hex(), txid, txid, 4 * len(tx)))
        self.transactions_json = "[" + ",".join(parts) + "]"
        self.tx_count = len(parts)

    def longpollid(self):
        return "%s%d" % (self.prevhash, self.tip_serial)

    def template(self):
        now = int(time.time())
        return ('{"version":%d,"rules":["csv"],"vbavailable":{},"vbrequired":0,"previousblockhash":"%s",'
                '"transactions":%s,"coinbaseaux":{},"coinbasevalue":1250000000,"longpollid":"%s",'
                '"target":"0000000000000000000000000000000000000000000000000000000000000000",'
                '"mintime":%d,"mutable":["time","transactions","prevblock"],"noncerange":"00000000ffffffff",'
                '"sigoplimit":80000,"sizelimit":4000000,"weightlimit":4000000,"curtime":%d,"bits":"%s","height":%d}'
                % (self.version, self.prevhash, self.transactions_json, self.longpollid(), now - 3600, now,
                   self.bits, self.height))

    def new_tip(self):
        with self.cond:
            self.prevhash = os.urandom(32).hex()
            self.height += 1
            self.tip_serial += 1
            self.tip_time = time.time()
            self.cond.notify_all()
            return {"height": self.height, "prevhash": self.prevhash, "unix_ms": round(self.tip_time * 1000, 3)}

    def log_event(self, event):
        line = json.dumps(event)
        with self.events_lock:
            print(line, file=sys.stderr, flush=True)
            if self.events:
                with open(self.events, "a") as f:
                    f.write(line + "\n")


def make_handler(ch, user, password, longpoll_max):
    expected_auth = None
    if user or password:
        expected_auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()

    class handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as libcurl expects

        def log_message(self, *args):
            pass

        def reply(self, code, body):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if expected_auth and self.headers.get("Authorization") != expected_auth:
                self.reply(401, "")
                return
            try:
                req = json.loads(body)
            except ValueError:
                self.reply(400, '{"result":null,"error":{"code":-32700,"message":"parse error"},"id":null}')
                return
            rid = json.dumps(req.get("id"))
            method, params = req.get("method"), req.get("params") or []

            def ok(result_json):
                self.reply(200, '{"result":%s,"error":null,"id":%s}' % (result_json, rid))

            if method == "getblockchaininfo":
                ok(json.dumps({"chain": "main", "blocks": ch.height - 1, "headers": ch.height - 1,
                               "bestblockhash": ch.prevhash, "initialblockdownload": False,
                               "warnings": "bmm-fake-node: a benchmark stand-in, not a Bitcoin node"}))
            elif method == "getnetworkinfo":
                ok(json.dumps({"version": 250000, "subversion": "/bmm-fake-node:0.1/", "connections": 8,
                               "warnings": "bmm-fake-node: a benchmark stand-in, not a Bitcoin node"}))
            elif method == "validateaddress":
                addr = str(params[0]) if params else ""
                h = hashlib.sha256(addr.encode()).digest()[:20].hex()
                ok(json.dumps({"isvalid": True, "address": addr, "scriptPubKey": "76a914" + h + "88ac"}))
            elif method == "getblocktemplate":
                lp = params[0].get("longpollid") if params and isinstance(params[0], dict) else None
                woke = None
                with ch.cond:
                    if lp and lp == ch.longpollid():
                        deadline = time.time() + longpoll_max
                        while lp == ch.longpollid() and time.time() < deadline:
                            ch.cond.wait(timeout=min(1.0, max(0.0, deadline - time.time())))
                        if lp != ch.longpollid():
                            woke = time.time()
                    tmpl = ch.template()
                    height, prevhash = ch.height, ch.prevhash
                ok(tmpl)
                if woke is not None:
                    ch.log_event({"event": "longpoll_answered", "unix_ms": round(time.time() * 1000, 3),
                                  "start_unix_ms": round(woke * 1000, 3), "height": height, "prevhash": prevhash})
            elif method == "submitblock":
                ch.submitted += 1
                ok("null")
            elif method == "bench_newblock":
                tip = ch.new_tip()
                ch.log_event(dict(event="new_tip", **tip))
                ok(json.dumps(tip))
            else:
                self.reply(200, '{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":%s}' % rid)

    return handler


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    ap.add_argument("--block", help="raw block file (default: tests/vectors/btc-mainnet-block-413567.raw of this checkout)")
    ap.add_argument("--rpc-user", default="", help="basic-auth user to require (default: none)")
    ap.add_argument("--rpc-password", default="", help="basic-auth password to require")
    ap.add_argument("--events", help="also append the JSON event lines to this file")
    ap.add_argument("--longpoll-max", type=float, default=600, help="longest a long poll waits, seconds (default 600)")
    ap.add_argument("--pid-file", help="write the process id here once listening")
    a = ap.parse_args()
    block = a.block
    if not block:
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        block = os.path.join(repo, "tests", "vectors", "btc-mainnet-block-413567.raw")
    try:
        with open(block, "rb") as f:
            raw = f.read()
    except OSError as e:
        sys.exit("bmm-fake-node: cannot read the block %s: %s (pass --block FILE, or restore tests/vectors/ in the checkout)" % (block, e))
    ch = chain(raw, a.events)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(ch, a.rpc_user, a.rpc_password, a.longpoll_max))
    srv.daemon_threads = True

    def on_usr1(signum, frame):
        threading.Thread(target=lambda: ch.log_event(dict(event="new_tip", **ch.new_tip())), daemon=True).start()

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown, daemon=True).start())
    if a.pid_file:
        with open(a.pid_file, "w") as f:
            f.write("%d\n" % os.getpid())
    print("bmm-fake-node: BENCHMARK STAND-IN for a Bitcoin node on 127.0.0.1:%d, template of %d transactions "
          "from %s, height %d" % (a.port, ch.tx_count, block, ch.height), file=sys.stderr, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    print("bmm-fake-node: stopped; %d blocks submitted" % ch.submitted, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

"""A small Lifeline-mode client (PROTOCOL.md section 2) for Python: stdlib + websockets.

Written for the asyncio API of websockets 10.4 (Debian bookworm's python3-websockets) and
Python 3.11; newer websockets versions keep that API.

What it does:
  * says hello and reads the welcome (session id, resume token, heartbeat interval);
  * sends JSON messages (`m` envelopes), numbered 1, 2, 3, ... and kept until the server
    acknowledges them;
  * receives messages in order, dropping duplicates by sequence number, and acknowledges
    them cumulatively (every 64 messages, or 50 ms after the first unacknowledged one);
  * answers the server's `ping` with `pong`;
  * probes the link itself (PROTOCOL.md section 2.5), when the server's welcome says it
    answers probes: a `ping` when the server's own ping is a second overdue, when a message
    is sent into a link that received nothing for `stale_after` seconds, and on `check()`;
    nothing arriving within `probe_timeout` seconds means the link is dead;
  * when the connection drops, reconnects by itself and resumes the session with
    sid/tok/rx: the server replays what this client missed, and this client resends what
    the server missed, so nothing is lost, duplicated or reordered;
  * when the server cannot resume (`reset`: expired, unknown-session, bad-token,
    overflow), tells the caller: `on_reset(reason, unsent)` if given, else the next
    `recv()` raises LifelineReset. Nothing is dropped silently: `unsent` holds the messages
    written to the old session and never acknowledged; those never written go out on the
    new session;
  * a close with 4000 (another connection was given the session) is resumed like a drop;
  * answers every request (`q`) of the server with the error LL_NO_HANDLER (it has no
    handlers), and ignores channel publications (`p`, `pr`): it subscribes to nothing;
  * stops, with LifelineClosed, when the server closes for a protocol error (1002, 1007,
    1008, ...): the same hello would be refused again.
  * refuses, in `send()`, a message the server said it would not accept (`welcome.max`:
    size, nesting depth, items, key length; and no `__proto__` key or lone surrogate):
    it raises LifelineRefused and the message gets no number. Numbered and sent, it would
    make the server close the connection (1009/1007) and be resent after every resume.

    client = LifelineClient("ws://127.0.0.1:5000/echo")
    await client.connect()
    await client.send({"text": "hi"})
    print(await client.recv())          # {'text': 'hi'} from /echo
    await client.close()

Run `python3 lifeline_client.py [URL]` for a demo against `lifeline serve`'s /echo.
"""

import asyncio
import base64
import json
import random
import re
import sys
import time

from websockets.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

PROTOCOL = "lifeline.v1"  # JSON text frames; "lifeline.v1.msgpack" would need a MessagePack library
ACK_EVERY = 64  # acknowledge after this many sequenced envelopes...
ACK_DELAY = 0.05  # ...or this many seconds after the first of them, whichever comes first
PROBE_GRACE = 1.0  # probe by timer once the server's own ping is this many seconds overdue
# Close codes that say "this client sent something wrong": coming back would be refused again.
REFUSED = {1002, 1003, 1007, 1008, 1009, 1010}


class LifelineReset(Exception):
    """The server could not resume the session and started a new one.

    `reason` is one of "expired", "unknown-session", "bad-token", "overflow";
    `unsent` lists the payloads this client had sent that the server never acknowledged:
    they are not delivered, and the application decides whether to send them again.
    """

    def __init__(self, reason, unsent):
        super().__init__(f"session reset by the server: {reason} ({len(unsent)} message(s) not delivered)")
        self.reason = reason
        self.unsent = unsent


class LifelineClosed(Exception):
    """The client was closed, or the server closed for a protocol error (the same hello would be refused again)."""


class LifelineRefused(ValueError):
    """`send()` refused a message the server would not accept; it was not sent nor numbered.

    `code` is LL_TOO_LARGE (bytes over welcome.max.size), LL_TOO_DEEP, LL_TOO_MANY_ITEMS,
    LL_KEY_TOO_LONG, LL_FORBIDDEN_KEY (a `__proto__` key) or LL_LONE_SURROGATE.
    """

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


MAX_SEQ = 2**53 - 1


class LifelineClient:
    def __init__(self, url, *, on_reset=None, heartbeat_grace=20.0, probe_timeout=2.0, stale_after=5.0,
                 open_timeout=5.0, max_backoff=2.0):
        self.url = url
        self.on_reset = on_reset
        # Without probes (a server whose welcome lacks probe: true): seconds of silence past
        # `hb` before the link counts as dead.
        self.heartbeat_grace = heartbeat_grace
        self.probe_timeout = probe_timeout  # a probe unanswered this long (seconds): the link is dead
        self.stale_after = stale_after  # a send into a link silent this long (seconds) probes it
        self.open_timeout = open_timeout
        self.max_backoff = max_backoff
        # Session state; survives reconnects.
        self.sid = None
        self.tok = None  # the resume token: whoever holds it can resume the session, so never log it
        self.hb = 25_000  # ms, from the welcome
        self.max = None  # what the server accepts ({"size", "depth", "items", "key"}), from the welcome
        self.rx = 0  # last sequence number received from the server and delivered
        self.seq = 0  # last sequence number this client used
        self.outbox = []  # envelopes sent and not yet acknowledged, in order
        self.written = 0  # outbox envelopes up to this `s` were written to a connection (always a prefix)
        # Counters, for the curious (and for tests).
        self.connections = 0  # WebSocket connections opened (some may be cut before their welcome)
        self.welcomes = 0
        self.resumes = 0
        self.duplicates = 0
        self.resets = []
        self.last_error = None  # the last `error` envelope from the server
        self.probes = 0  # pings this client sent
        self.dead_links = 0  # links it declared dead (a probe unanswered, or silence)
        self._inbox = asyncio.Queue()
        self._live = None  # the connection that carries the session and has been replayed to
        self._ws = None  # the newest connection, carrying the session or not yet
        self._lock = asyncio.Lock()  # one writer at a time, so envelopes leave in order
        self._received_since_ack = 0
        self._ack_timer = None
        self._first_welcome = None
        self._probing = False  # the server of the live link answers probes
        self._last_in = 0.0  # loop time of the last frame received
        self._probe_timer = None  # armed while a probe waits for an answer
        self._runner = None
        self._closed = False
        self._tasks = set()

    # ---- public API -------------------------------------------------------------------

    async def connect(self):
        """Opens the first connection and waits for its welcome; then keeps the session up by itself."""
        self._first_welcome = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run())
        return await self._first_welcome

    async def send(self, data):
        """Sends one message: a JSON value as `d`, or bytes as `b`. Queued while disconnected."""
        if self._closed:
            raise LifelineClosed("the client is closed")
        envelope = {"t": "m", "s": self.seq + 1}
        if isinstance(data, (bytes, bytearray)):
            envelope["b"] = base64.b64encode(bytes(data)).decode("ascii")
        else:
            envelope["d"] = data
        self._check(envelope)
        self.seq += 1
        self.outbox.append(envelope)
        ws = self._live
        await self._write(envelope, ws)
        # Written into a link that received nothing for a while: is it still there?
        if ws is not None and asyncio.get_running_loop().time() - self._last_in >= self.stale_after:
            await self._probe(ws)

    async def check(self):
        """Probes the link now (after a network change the application knows of): a dead link
        is noticed within `probe_timeout` seconds, and the client resumes on a new one."""
        if self._live is not None:
            await self._probe(self._live)

    async def recv(self):
        """The next message from the server, in order, exactly once. Raises LifelineReset (when
        no on_reset callback was given) and LifelineClosed."""
        item = await self._inbox.get()
        if isinstance(item, Exception):
            raise item
        return item

    async def flush(self, timeout=10.0):
        """Waits until the server has acknowledged everything sent so far."""
        async def drained():
            while self.outbox:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(drained(), timeout)

    async def close(self):
        """Acknowledges what arrived, closes the connection (1000) and stops reconnecting."""
        if self._closed:
            return
        self._closed = True
        ws = self._live
        if ws is not None:
            try:
                await self._send_ack(ws)
                await ws.close(1000, "client closed")
            except ConnectionClosed:
                pass
        if self._runner is not None:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                pass
        last = self._ws
        if last is not None:
            # Let the last connection's own tasks finish, so none is left pending at exit.
            try:
                await asyncio.wait_for(last.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass
        self._cancel_ack_timer()
        self._inbox.put_nowait(LifelineClosed("the client is closed"))

    def abort_transport(self):
        """Drops the TCP connection at once, as a network failure would (for demos and tests)."""
        if self._live is not None:
            _drop(self._live)

    def _check(self, envelope):
        """Raises LifelineRefused for what the server would refuse (PROTOCOL.md 2.1, welcome.max)."""
        if "d" in envelope:
            problem = _value_problem(envelope["d"], self.max)
            if problem is not None:
                raise LifelineRefused(*problem)
        if self.max is not None:
            # As written: with the largest acknowledgement it could carry, so never too small.
            size = len(json.dumps({**envelope, "a": MAX_SEQ}).encode("utf-8"))
            if size > self.max["size"]:
                raise LifelineRefused("LL_TOO_LARGE", f"the message is {size} bytes; the server accepts {self.max['size']}")

    # ---- connection loop --------------------------------------------------------------

    async def _run(self):
        backoff = 0.05
        while not self._closed:
            retry_after = None
            try:
                ws = await connect(self.url, subprotocols=[PROTOCOL], open_timeout=self.open_timeout,
                                   ping_interval=None, close_timeout=2, max_size=None)
            except (OSError, asyncio.TimeoutError, InvalidHandshake, InvalidURI) as error:
                if not self._first_welcome.done():
                    self._first_welcome.set_exception(error)  # the first connect reports its failure
                    return
            else:
                self.connections += 1
                self._ws = ws
                try:
                    await self._carry(ws)
                except (ConnectionClosed, asyncio.TimeoutError, ProtocolViolation, ServerRefused, ValueError, KeyError, TypeError) as error:
                    if isinstance(error, ProtocolViolation):
                        await ws.close(1002, str(error)[:120])
                    elif isinstance(error, ServerRefused):
                        # An `error` envelope is a valid answer to a hello; the server's close follows it.
                        try:
                            await asyncio.wait_for(ws.wait_closed(), 2)
                        except asyncio.TimeoutError:
                            pass
                    # The first connect reports what went wrong, except a connection cut before its
                    # welcome: that one is retried like any other.
                    if not self._first_welcome.done() and not isinstance(error, ConnectionClosed):
                        self._first_welcome.set_exception(error)
                        return
                finally:
                    self._cancel_probe()
                    if self._live is ws:
                        self._live = None
                        if ws.close_code != 4000:
                            backoff = 0.05  # this link carried the session: the backoff starts afresh
                    # A dead link (silence) or a violation: no closing handshake. Also when TCP already
                    # closed: its reader may be stuck behind frames nobody will read now.
                    _drop(ws)
                code, reason = ws.close_code, ws.close_reason or ""
                if code in REFUSED:  # a protocol error: the same hello would be refused again
                    self._stop(LifelineClosed(f"the server closed with {code}: {reason}"))
                    return
                # 4000: another connection was given the session (PROTOCOL.md section 2.6). This
                # was the only one, so resume as after any drop: the server that holds the session
                # now answers (resumed, or a reset that reports what it lost). The backoff keeps
                # growing, so two copies of one client cannot take it from each other in a loop.
                match = re.search(r"retry-after=(\d+)", reason)
                if match:  # a server restart or overload says when to come back, in ms
                    retry_after = int(match.group(1)) / 1000
            if self._closed:
                return
            # Reconnect with jittered exponential backoff (or the server's hint), then resume.
            await asyncio.sleep(retry_after if retry_after is not None else backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, self.max_backoff)

    async def _carry(self, ws):
        """Says hello on `ws`, takes the welcome, replays the outbox, then reads until the link dies."""
        hello = {"t": "hello", "v": 1}
        if self.sid is not None:
            hello.update(sid=self.sid, tok=self.tok, rx=self.rx)
        await ws.send(json.dumps(hello))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
        if welcome.get("t") == "error":
            self.last_error = welcome
            raise ServerRefused(f"server error {welcome.get('code')}: {welcome.get('message')}")
        if welcome.get("t") != "welcome":
            raise ProtocolViolation(f"expected welcome, got {welcome.get('t')!r}")
        if welcome.get("resumed") and welcome.get("sid") != self.sid:
            raise ProtocolViolation("welcome.sid: resumed a session this client did not ask for")
        self._take_welcome(welcome)
        async with self._lock:
            # Everything the server has not received goes again, in order, before anything new.
            self._live = ws
            for envelope in list(self.outbox):
                await ws.send(json.dumps({**envelope, "a": self.rx}))
                self.written = max(self.written, envelope["s"])
            self._received_since_ack = 0
        if not self._first_welcome.done():
            self._first_welcome.set_result(welcome)
        hb = self.hb / 1000
        self._probing = welcome.get("probe") is True
        # The server pings a link it heard nothing from within hb + max(hb/4, 25 ms)
        # (PROTOCOL.md section 2.5). A server that answers probes gets one once its ping is
        # a second overdue; from any other, nothing for hb + grace means the link is dead.
        quiet = hb + max(hb / 4, 0.025) + PROBE_GRACE if self._probing else hb + self.heartbeat_grace
        self._last_in = asyncio.get_running_loop().time()
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), quiet)
            except asyncio.TimeoutError:
                if not self._probing:
                    self.dead_links += 1
                    raise
                await self._probe(ws)  # an unanswered probe aborts the link, and recv() raises
                continue
            self._last_in = asyncio.get_running_loop().time()
            self._cancel_probe()  # any frame answers a probe
            if not isinstance(frame, str):
                raise ProtocolViolation("binary frame in JSON mode")
            await self._receive(json.loads(frame), ws)

    def _take_welcome(self, welcome):
        self.welcomes += 1
        asked_to_resume = self.sid is not None
        if welcome.get("resumed"):
            self.resumes += 1
            self._acked(welcome["rx"])  # the server's rx acknowledges what it got
        elif asked_to_resume:
            # A new session: the old one is gone, with whatever it held. Messages written to it
            # and never acknowledged may or may not have arrived: the caller decides. Those never
            # written go out on the new session, numbered afresh; answers to the old session's
            # requests are dropped (PROTOCOL.md section 2.4).
            reason = (welcome.get("reset") or {}).get("reason", "unknown")
            messages = [e for e in self.outbox if e["t"] == "m"]
            unsent = [e["d"] if "d" in e else base64.b64decode(e["b"]) for e in messages if e["s"] <= self.written]
            self.outbox = [{**e, "s": s} for s, e in enumerate((e for e in messages if e["s"] > self.written), 1)]
            self.seq = len(self.outbox)
            self.written = 0
            self.rx = 0
            self.resets.append(reason)
            reset = LifelineReset(reason, unsent)
            if self.on_reset is not None:
                self.on_reset(reset)
            else:
                self._inbox.put_nowait(reset)
        self.sid = welcome["sid"]
        self.tok = welcome["tok"]
        self.hb = welcome.get("hb", self.hb)
        self.max = welcome.get("max", self.max)

    # ---- receiving --------------------------------------------------------------------

    async def _receive(self, envelope, ws):
        t = envelope.get("t")
        if t in ("m", "q", "r"):
            if "a" in envelope:
                self._acked(envelope["a"])
            s = envelope["s"]
            if s <= self.rx:  # a duplicate from a replay: drop it, but acknowledge it
                self.duplicates += 1
                self._note_received(ws)
                return
            if s != self.rx + 1:
                raise ProtocolViolation(f"sequence gap: got s={s} after {self.rx}")
            self.rx = s
            self._note_received(ws)
            if t == "m":
                self._inbox.put_nowait(envelope["d"] if "d" in envelope else base64.b64decode(envelope["b"]))
            elif t == "q":  # this client has no request handlers; say so, as the protocol asks
                self.seq += 1
                answer = {"t": "r", "s": self.seq, "id": envelope["id"],
                          "e": {"code": "LL_NO_HANDLER", "message": f"no handler for request {envelope['n']!r}"}}
                self.outbox.append(answer)
                await self._write(answer, ws)
            # "r": this client sends no requests, so there is nothing to settle
        elif t == "a":
            self._acked(envelope["a"])
        elif t == "ping":
            await self._write({"t": "pong", "ts": envelope["ts"]}, ws, sequenced=False)
        elif t in ("pong", "p", "pr"):
            pass  # the answer to a probe (already counted as life); channels this client never joins
        elif t == "error":
            self.last_error = envelope  # the server closes right after; the loop resumes
        else:
            raise ProtocolViolation(f"unexpected envelope {t!r}")

    def _acked(self, a):
        """The server has everything up to `a`: free it."""
        while self.outbox and self.outbox[0]["s"] <= a:
            self.outbox.pop(0)

    def _note_received(self, ws):
        self._received_since_ack += 1
        if self._received_since_ack >= ACK_EVERY:
            self._spawn(self._send_ack(ws))
        elif self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY, lambda: self._spawn(self._send_ack(ws)))

    # ---- writing ----------------------------------------------------------------------

    async def _write(self, envelope, ws, sequenced=True):
        if ws is None:
            return  # not connected: it waits in the outbox for the resume
        async with self._lock:
            if ws is not self._live:
                return  # the link changed meanwhile; the resume replays the outbox
            if sequenced:
                envelope = {**envelope, "a": self.rx}  # the acknowledgement rides along
                self._received_since_ack = 0
                self._cancel_ack_timer()
            try:
                await ws.send(json.dumps(envelope))
            except ConnectionClosed:
                return  # the read loop notices and resumes
            if sequenced:
                self.written = max(self.written, envelope["s"])

    async def _probe(self, ws):
        """Sends a `ping` the server answers at once, unless one is outstanding or the server
        answers none; if nothing at all arrives within probe_timeout, the link is dead."""
        if not self._probing or self._probe_timer is not None or ws is not self._live:
            return
        loop = asyncio.get_running_loop()
        self._probe_timer = loop.call_later(self.probe_timeout, self._probe_unanswered, ws)
        self.probes += 1
        await self._write({"t": "ping", "ts": round(time.time() * 1000)}, ws, sequenced=False)

    def _probe_unanswered(self, ws):
        self._probe_timer = None
        self.dead_links += 1
        _drop(ws)  # recv() raises, and the run loop resumes on a new connection

    def _cancel_probe(self):
        if self._probe_timer is not None:
            self._probe_timer.cancel()
            self._probe_timer = None

    async def _send_ack(self, ws):
        self._cancel_ack_timer()
        if self._received_since_ack == 0 or ws is not self._live:
            return
        self._received_since_ack = 0
        await self._write({"t": "a", "a": self.rx}, ws, sequenced=False)

    def _cancel_ack_timer(self):
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None

    def _spawn(self, coroutine):
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _stop(self, error):
        self._closed = True
        if self._first_welcome is not None and not self._first_welcome.done():
            self._first_welcome.set_exception(error)  # connect() is still waiting: it raises
        self._inbox.put_nowait(error)


def _drop(ws):
    """Ends a connection at once, without a closing handshake: its reader task stops (so no
    task is left pending on a frame nobody reads) and the TCP connection is cut. Harmless on
    a connection that is closed already."""
    ws.fail_connection()
    if ws.transport is not None:
        ws.transport.abort()


class ProtocolViolation(Exception):
    """The server broke the protocol (a sequence gap, an unknown envelope)."""


def _value_problem(value, limits):
    """(code, message) for a JSON value the server would refuse, or None. Walks the value
    once, without recursion; the bounds (`limits`, welcome.max) apply once they are known,
    the content rules (no `__proto__` key, no lone surrogate) always."""
    depth_limit = limits["depth"] if limits else None
    items_limit = limits["items"] if limits else None
    key_limit = limits["key"] if limits else None
    items = 3  # the envelope's own fields count too
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return ("LL_LONE_SURROGATE", "a string has a lone surrogate")
        elif isinstance(v, (list, tuple, dict)):
            depth += 1
            if depth_limit is not None and depth > depth_limit:
                return ("LL_TOO_DEEP", f"the message nests deeper than {depth_limit} levels")
            items += len(v)
            if items_limit is not None and items > items_limit:
                return ("LL_TOO_MANY_ITEMS", f"the message holds more than {items_limit} items")
            if isinstance(v, dict):
                for key, item in v.items():
                    key = str(key)
                    if key == "__proto__":
                        return ("LL_FORBIDDEN_KEY", "a key __proto__ is not allowed")
                    if key_limit is not None and len(key.encode("utf-16-le", "surrogatepass")) // 2 > key_limit:
                        return ("LL_KEY_TOO_LONG", f"a key is over {key_limit} characters")
                    stack.append((key, depth))
                    stack.append((item, depth))
            else:
                stack.extend((item, depth) for item in v)
    return None


class ServerRefused(Exception):
    """The server answered the hello with an `error` envelope (a valid answer); its close follows."""


async def demo(url):
    client = LifelineClient(url)
    welcome = await client.connect()
    print(f"connected: session {welcome['sid']}, heartbeat every {welcome['hb']} ms")
    messages = [{"text": "hello"}, {"text": "from", "n": 2}, ["Python", 3.11, True, None]]
    for message in messages:
        await client.send(message)
    for _ in messages:
        print("echo:", json.dumps(await client.recv()))
    await client.flush()
    await client.close()


if __name__ == "__main__":
    asyncio.run(demo(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:5000/echo"))

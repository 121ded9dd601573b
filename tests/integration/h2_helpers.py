# SPDX-License-Identifier: Apache-2.0
"""A frame-level HTTP/2 client for the downstream HTTP/2 tests (test_h2_downstream.py).

`H2Client` drives hyper-h2 (python3-h2) over a plain or TLS socket and keeps every event,
so a test can look at what the proxy really sent: its SETTINGS, WINDOW_UPDATEs, each
stream's headers, DATA and end (END_STREAM or RST_STREAM), GOAWAY frames and the close.

- Inbound headers are not validated or normalized by h2: a forbidden connection-specific
  header, an uppercase name or a split cookie from the proxy shows up in the response for the
  test to assert on, instead of an exception deep in h2.
- Outbound validation can be turned off (`validate=False`) to send invalid messages (a
  `connection` header, `transfer-encoding`, ...).
- GOAWAY does not end the client: hyper-h2 closes its state machine on the first GOAWAY,
  but a graceful GOAWAY (drain, idle timeout) lets the streams at or below its last stream
  id finish, so `_GoawayTolerantConnection` keeps the connection open and records the frame.
- Request bodies are sent as the proxy's flow-control windows allow; received DATA is
  acknowledged as it arrives unless `auto_ack=False` (then `ack()` releases it), which lets a
  test hold the proxy's send window at zero.

Every wait is bounded; nothing here sleeps longer than a select() timeout.
"""
import json
import select
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_STREAM_ID = 2 ** 31 - 1
Settings = h2.settings.SettingCodes
ErrorCodes = h2.errors.ErrorCodes


class _GoawayTolerantConnection(h2.connection.H2Connection):
    """hyper-h2 moves to CLOSED on a received GOAWAY and then refuses every later frame;
    keep the state (and the frames queued before it, e.g. a SETTINGS ACK) instead."""

    def _receive_goaway_frame(self, frame):
        state = self.state_machine.state
        queued = self._data_to_send
        frames, events = super()._receive_goaway_frame(frame)
        self.state_machine.state = state
        self._data_to_send = queued
        return frames, events


class H2Resp:
    """One stream's outcome: status, headers ([(name, value)], wire order, pseudo-headers
    removed), body, trailers; `ended` (END_STREAM seen), `reset` (the RST_STREAM error code,
    or None), `data_frames` (DATA frames carrying at least one byte)."""

    def __init__(self, sid):
        self.sid = sid
        self.status = None
        self.raw_headers = []
        self.headers = []
        self.interim = []
        self.body = bytearray()
        self.trailers = None
        self.ended = False
        self.reset = None
        self.data_frames = 0
        self.done_at = None

    @property
    def done(self):
        return self.ended or self.reset is not None

    def get(self, name, default=None):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return default

    def get_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def has(self, name):
        return any(k == name.lower() for k, _ in self.headers)

    def json(self):
        return json.loads(bytes(self.body))

    def __repr__(self):
        return (f"<H2Resp sid={self.sid} status={self.status} ended={self.ended} "
                f"reset={self.reset} headers={self.headers} body={bytes(self.body[:200])!r}>")


def tls_h2_socket(port, ctx, sni="localhost", timeout=10.0):
    """A TLS connection offering ALPN from `ctx`; the handshake is done."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


class H2Client:
    """An HTTP/2 client connection (prior knowledge on plaintext, or over a given socket).

    settings: extra local SETTINGS ({SettingCodes: value}) sent with the preface;
    window: the connection-level receive window to grow to (WINDOW_UPDATE on stream 0);
    validate: hyper-h2's outbound header validation and normalization;
    split_preface: send only this many bytes of the connection preface first, then the rest
    after `split_delay` seconds (a client whose preface arrives in pieces)."""

    def __init__(self, port=None, sock=None, settings=None, window=None, validate=True,
                 timeout=10.0, authority="h2.test", auto_ack=True, split_preface=None,
                 split_delay=0.1):
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.authority = authority
        self.auto_ack = auto_ack
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate,
                                        validate_inbound_headers=False,
                                        normalize_inbound_headers=False)
        self.conn = _GoawayTolerantConnection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(dict(settings))
        if window and window > 65535:
            self.conn.increment_flow_control_window(window - 65535)
        self.events = []            # every h2 event, in order
        self.streams = {}           # sid -> H2Resp
        self.goaways = []           # ConnectionTerminated events (GOAWAY frames), in order
        self.goaway_at = None       # monotonic time of the first GOAWAY
        self.remote_settings_frames = []   # changed_settings of each SETTINGS from the proxy
        self.conn_window_updates = []      # increments of WINDOW_UPDATE on stream 0
        self.pings = 0
        self.eof = False
        self.eof_at = None
        self.reset_by_peer = False
        self.unacked = {}           # sid -> flow-controlled bytes not yet acknowledged
        self._pending = {}          # sid -> [memoryview, end_stream]
        data = self.conn.data_to_send()
        if split_preface:
            self.sock.sendall(data[:split_preface])
            time.sleep(split_delay)
            data = data[split_preface:]
        self.sock.sendall(data)

    # ---- plumbing -----------------------------------------------------------------------

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _flush(self):
        self._send_pending()
        data = self.conn.data_to_send()
        if data and not self.eof:
            try:
                self.sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                self.eof = True
                self.reset_by_peer = True
                self.eof_at = self.eof_at or time.monotonic()

    def _send_pending(self):
        for sid in list(self._pending):
            mv, end = self._pending[sid]
            resp = self.streams.get(sid)
            if resp is not None and resp.reset is not None:
                del self._pending[sid]
                continue
            while len(mv):
                n = min(len(mv), self.conn.local_flow_control_window(sid),
                        self.conn.max_outbound_frame_size)
                if n <= 0:
                    break
                last = n == len(mv)
                self.conn.send_data(sid, mv[:n].tobytes(), end_stream=end and last)
                mv = mv[n:]
            if len(mv):
                self._pending[sid] = [mv, end]
            else:
                del self._pending[sid]

    def _readable(self, timeout):
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        return bool(r)

    def _recv_once(self, timeout):
        """One read (at most `timeout` seconds of waiting); False when nothing came."""
        if self.eof:
            return False
        if not self._readable(timeout):
            return False
        try:
            data = self.sock.recv(1 << 20)
        except (ConnectionResetError, ssl.SSLError, OSError) as e:
            if isinstance(e, socket.timeout):
                return False
            data = b""
            self.reset_by_peer = True
        if not data:
            self.eof = True
            self.eof_at = time.monotonic()
            return False
        for ev in self.conn.receive_data(data):
            self._on_event(ev)
        self._flush()
        return True

    def _on_event(self, ev):
        self.events.append(ev)
        now = time.monotonic()
        if isinstance(ev, h2.events.ResponseReceived):
            r = self._resp(ev.stream_id)
            r.raw_headers = list(ev.headers)
            for k, v in ev.headers:
                if k == ":status":
                    r.status = int(v)
                else:
                    r.headers.append((k, v))
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            self._resp(ev.stream_id).interim.append(list(ev.headers))
        elif isinstance(ev, h2.events.TrailersReceived):
            self._resp(ev.stream_id).trailers = list(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            r = self._resp(ev.stream_id)
            r.body += ev.data
            if ev.data:
                r.data_frames += 1
            if ev.flow_controlled_length:
                if self.auto_ack:
                    self._ack(ev.stream_id, ev.flow_controlled_length)
                else:
                    self.unacked[ev.stream_id] = (self.unacked.get(ev.stream_id, 0)
                                                  + ev.flow_controlled_length)
        elif isinstance(ev, h2.events.StreamEnded):
            r = self._resp(ev.stream_id)
            r.ended = True
            r.done_at = now
        elif isinstance(ev, h2.events.StreamReset):
            r = self._resp(ev.stream_id)
            r.reset = ev.error_code
            r.done_at = now
            self._pending.pop(ev.stream_id, None)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaways.append(ev)
            self.goaway_at = self.goaway_at or now
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            self.remote_settings_frames.append(
                {k: v.new_value for k, v in ev.changed_settings.items()})
        elif isinstance(ev, h2.events.WindowUpdated):
            if ev.stream_id == 0:
                self.conn_window_updates.append(ev.delta)
        elif isinstance(ev, h2.events.PingAckReceived):
            self.pings += 1

    def _resp(self, sid):
        r = self.streams.get(sid)
        if r is None:
            r = self.streams[sid] = H2Resp(sid)
        return r

    def _ack(self, sid, n):
        try:
            self.conn.acknowledge_received_data(n, sid)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            # The stream is gone (reset); the connection window still needs the bytes back.
            self.conn.increment_flow_control_window(n)

    def ack(self):
        """Acknowledges every held DATA byte (with auto_ack=False)."""
        for sid, n in list(self.unacked.items()):
            self._ack(sid, n)
        self.unacked.clear()
        self._flush()

    def pump(self, pred, timeout=None, what="condition"):
        """Reads and handles frames until pred() is true; raises on timeout or when the
        proxy closed the connection before pred() held."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            self._flush()
            if pred():
                return
            if self.eof:
                raise AssertionError(f"connection closed by the proxy while waiting for {what}; "
                                     f"events: {self.events[-12:]}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; events: {self.events[-12:]}")
            self._recv_once(min(left, 0.5))

    def read_for(self, seconds):
        """Handles whatever arrives for `seconds` (or until EOF)."""
        deadline = time.monotonic() + seconds
        while not self.eof:
            self._flush()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._recv_once(min(left, 0.5))

    # ---- requests -----------------------------------------------------------------------

    def handshake(self, timeout=None):
        """Waits for the proxy's first SETTINGS frame and a PING round trip (so every frame
        the proxy sent with its preface, such as a connection WINDOW_UPDATE, has arrived)."""
        self.pump(lambda: self.remote_settings_frames, timeout, what="the proxy's SETTINGS")
        self.ping(timeout)
        return self.remote_settings_frames[0]

    def ping(self, timeout=None):
        n = self.pings
        self.conn.ping(b"remora!!")
        self.pump(lambda: self.pings > n, timeout, what="PING ACK")

    def send_request(self, method="GET", path="/", headers=(), body=None, authority=None,
                     scheme="http", end_stream=True, pseudo=None):
        """Opens a stream; returns its id. `pseudo` replaces the pseudo-header list."""
        sid = self.conn.get_next_available_stream_id()
        if pseudo is None:
            pseudo = [(":method", method), (":scheme", scheme),
                      (":authority", authority or self.authority), (":path", path)]
        hdrs = list(pseudo) + [(k.lower() if isinstance(k, str) else k, v) for k, v in headers]
        no_body = not body
        self.conn.send_headers(sid, hdrs, end_stream=end_stream and no_body)
        self._resp(sid)
        if not no_body:
            self._pending[sid] = [memoryview(bytes(body)), end_stream]
        self._flush()
        return sid

    def send_data(self, sid, data, end_stream=False):
        """Queues more request body for an open stream (sent as the windows allow)."""
        if sid in self._pending:
            mv, _ = self._pending[sid]
            self._pending[sid] = [memoryview(mv.tobytes() + data), end_stream]
        elif data:
            self._pending[sid] = [memoryview(bytes(data)), end_stream]
        elif end_stream:
            self.conn.end_stream(sid)
        self._flush()

    def reset_stream(self, sid, code=ErrorCodes.CANCEL):
        self.conn.reset_stream(sid, code)
        self._pending.pop(sid, None)
        self._flush()

    def response(self, sid, timeout=None):
        r = self._resp(sid)
        self.pump(lambda: r.done, timeout, what=f"the end of stream {sid}")
        return r

    def request(self, method="GET", path="/", headers=(), body=None, timeout=None, **kw):
        return self.response(self.send_request(method, path, headers, body, **kw), timeout)

    def wait_goaway(self, timeout=None, count=1):
        self.pump(lambda: len(self.goaways) >= count or self.eof, timeout, what="GOAWAY")
        assert len(self.goaways) >= count, \
            f"the proxy closed the connection without GOAWAY; events: {self.events[-12:]}"
        return self.goaways[count - 1]

    def wait_eof(self, timeout=5.0):
        """True when the proxy closes the connection within `timeout` (frames before the
        close are handled)."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._flush()
            self._recv_once(min(0.5, deadline - time.monotonic()))
        return self.eof


def read_raw_until_close(sock, timeout=5.0, limit=1 << 20):
    """Every byte the peer sends until it closes (or `timeout`); (data, closed)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(out), False
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            return bytes(out), True
        except socket.timeout:
            return bytes(out), False
        if not d:
            return bytes(out), True
        out += d
    return bytes(out), False


def parse_frames(data):
    """Splits raw bytes into HTTP/2 frames: [(type, flags, stream_id, payload)]; a trailing
    partial frame is dropped."""
    frames = []
    i = 0
    while i + 9 <= len(data):
        length = int.from_bytes(data[i:i + 3], "big")
        ftype, flags = data[i + 3], data[i + 4]
        sid = int.from_bytes(data[i + 5:i + 9], "big") & 0x7fffffff
        if i + 9 + length > len(data):
            break
        frames.append((ftype, flags, sid, data[i + 9:i + 9 + length]))
        i += 9 + length
    return frames


FRAME_SETTINGS = 0x4
FRAME_GOAWAY = 0x7

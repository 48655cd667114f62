#!/usr/bin/python3
"""D-Bus client of the daemon integration tests: the parts a shell cannot do with busctl or
gdbus (signals, sessions, several connections, NaN, huge strings, pipes it never reads).

Run it with /usr/bin/python3 (Debian's python3-dbus and python3-gi: dbus-python with the GLib
main loop). The bus is $DBUS_SESSION_BUS_ADDRESS. Options go as -o KEY=TYPE:VALUE, TYPE one of
u t i d b s, or as with a JSON list value (-o 'stop=as:["x"]'); d takes nan and inf.

A failed D-Bus call prints "error NAME: MESSAGE" on stderr and exits 3; a broken expectation
prints "FAIL: ..." and exits 1.
"""
import argparse
import fcntl
import json
import os
import select
import signal
import sys
import time
import xml.etree.ElementTree as ET

import dbus
import dbus.bus
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NAME = 'org.gemmad.Gemmad1'
PATH = '/org/gemmad/Gemmad1'
MANAGER = NAME + '.Manager'
SESSION = NAME + '.Session'
PROPS = 'org.freedesktop.DBus.Properties'
INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable'
ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
UNKNOWN_OBJECT = 'org.freedesktop.DBus.Error.UnknownObject'
F_SETPIPE_SZ = 1031
TIMEOUT = 300


def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


_mainloop_set = False


def connect():
    """A new private connection to the test bus, dispatched by the GLib default context."""
    global _mainloop_set
    if not _mainloop_set:
        DBusGMainLoop(set_as_default=True)
        _mainloop_set = True
    return dbus.bus.BusConnection(os.environ['DBUS_SESSION_BUS_ADDRESS'])


def manager(conn):
    return dbus.Interface(conn.get_object(NAME, PATH, introspect=False), MANAGER)


def session_obj(conn, path):
    return conn.get_object(NAME, path, introspect=False)


def run_until(cond, timeout, what):
    """Iterates the GLib main loop until cond() is true; at most timeout seconds."""
    ctx = GLib.MainContext.default()
    tick = GLib.timeout_add(50, lambda: True)   # wake up now and then to check the deadline
    deadline = time.monotonic() + timeout
    try:
        while not cond():
            if time.monotonic() > deadline:
                fail(f'timed out after {timeout}s waiting for {what}')
            ctx.iteration(True)
    finally:
        GLib.source_remove(tick)


def drain_pending():
    ctx = GLib.MainContext.default()
    while ctx.pending():
        ctx.iteration(False)


def err_name(e):
    return e.get_dbus_name() if isinstance(e, dbus.exceptions.DBusException) else type(e).__name__


def parse_value(spec):
    kind, _, value = spec.partition(':')
    if kind == 'u':
        return dbus.UInt32(int(value))
    if kind == 't':
        return dbus.UInt64(int(value))
    if kind == 'i':
        return dbus.Int32(int(value))
    if kind == 'd':
        return dbus.Double(float(value))
    if kind == 'b':
        return dbus.Boolean(value.lower() in ('1', 'true', 'yes'))
    if kind == 's':
        return dbus.String(value)
    if kind == 'as':
        return dbus.Array([dbus.String(s) for s in json.loads(value)], signature='s')
    raise SystemExit(f'bad option type in {spec!r}')


def options(pairs):
    d = {}
    for p in pairs or []:
        key, _, spec = p.partition('=')
        d[key] = parse_value(spec)
    return dbus.Dictionary(d, signature='sv')


def plain(v):
    """dbus types -> JSON-able Python values."""
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Dictionary, dict)):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (dbus.Array, dbus.Struct, list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (dbus.String, dbus.ObjectPath, str)):
        return str(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, int):
        return int(v)
    return v


def write_info(path, obj):
    if path:
        with open(path, 'w') as f:
            json.dump(plain(obj), f)


def prompt_text(args):
    if getattr(args, 'prompt_bytes', None):
        unit = 'ab '
        return (unit * (args.prompt_bytes // len(unit) + 1))[:args.prompt_bytes]
    return args.prompt


def out(text):
    sys.stdout.buffer.write(text.encode('utf-8'))
    sys.stdout.buffer.flush()


# ---- a session streaming one answer through Chunk/Finished ----

class Stream:
    """One connection, one session, its signals subscribed by path before Prompt()."""

    def __init__(self, conn, session_opts):
        self.conn = conn
        self.path = manager(conn).CreateSession(session_opts, timeout=TIMEOUT)
        self.obj = session_obj(conn, self.path)
        self.session = dbus.Interface(self.obj, SESSION)
        self.chunks = []
        self.finished = None
        self.request = None
        self.errors = []
        self.on_first_chunk = None
        conn.add_signal_receiver(self._signal, dbus_interface=SESSION, path=self.path,
                                 member_keyword='member')

    def _signal(self, *args, member=None):
        if member == 'Chunk':
            req, text = args
            if self.finished is not None:
                self.errors.append(f'Chunk after Finished: {text!r}')
            if self.request is not None and req != self.request:
                self.errors.append(f'Chunk of request {req}, expected {self.request}')
            self.chunks.append(str(text))
            if len(self.chunks) == 1 and self.on_first_chunk:
                self.on_first_chunk()
        elif member == 'Finished':
            req, reason, info = args
            if self.finished is not None:
                self.errors.append('a second Finished')
            if self.request is not None and req != self.request:
                self.errors.append(f'Finished of request {req}, expected {self.request}')
            self.finished = (str(reason), plain(info))
            # The info counts what was generated, also when the request was cut short.
            if self.chunks and int(info.get('tokens_generated', 0)) == 0:
                self.errors.append(f'Finished {reason} says tokens_generated 0 after {len(self.chunks)} Chunks '
                                   f'({len(self.text())} bytes) arrived')

    def prompt(self, text, opts):
        self.request = int(self.session.Prompt(text, opts, timeout=TIMEOUT))
        if self.request == 0:
            self.errors.append('Prompt returned request id 0')
        return self.request

    def wait(self, timeout=TIMEOUT):
        run_until(lambda: self.finished is not None, timeout, 'Finished')

    def text(self):
        return ''.join(self.chunks)


def cmd_stream(args):
    conn = connect()
    st = Stream(conn, options(args.session_opt))
    if args.ready:
        def ready():
            with open(args.ready, 'w') as f:
                f.write(st.path + '\n')
        st.on_first_chunk = ready
    st.prompt(args.prompt, options(args.opt))
    st.wait()
    out(st.text())
    reason, info = st.finished
    log(f'finished {reason} chunks={len(st.chunks)} tokens={info.get("tokens_generated")}')
    write_info(args.info, {'reason': reason, 'info': info, 'chunks': len(st.chunks), 'path': str(st.path)})
    if st.errors:
        fail('; '.join(st.errors))
    if args.expect_reason and reason not in args.expect_reason.split(','):
        fail(f'Finished reason {reason!r}, expected {args.expect_reason}: {info}')


def cmd_generate(args):
    conn = connect()
    opts = options(args.opt)
    if args.system_bytes:
        opts['system'] = dbus.String('s' * args.system_bytes)
    text, info = manager(conn).Generate(prompt_text(args), opts, timeout=TIMEOUT)
    out(str(text))
    write_info(args.info, info)
    log(f'finished {info.get("finish_reason")} tokens={int(info.get("tokens_generated", 0))}')


def call_to_fd(conn, method_owner, method, text, opts, wfd):
    """Starts METHOD(h, s, a{sv}) asynchronously; returns a dict filled in with the reply."""
    result = {}
    fd = dbus.types.UnixFd(wfd)
    getattr(method_owner, method)(fd, text, opts, timeout=TIMEOUT,
                                  reply_handler=lambda info: result.update(info=plain(info)),
                                  error_handler=lambda e: result.update(error=err_name(e), message=str(e)))
    del fd
    return result


def cmd_to_fd(args):
    """PromptToFd (a new session) or, with --manager, GenerateToFd into a pipe read here."""
    conn = connect()
    opts = options(args.opt)
    signals = []
    if args.manager:
        target = manager(conn)
        method = 'GenerateToFd'
    else:
        path = manager(conn).CreateSession(options(args.session_opt), timeout=TIMEOUT)
        target = dbus.Interface(session_obj(conn, path), SESSION)
        method = 'PromptToFd'
        # PromptToFd sends no Chunk or Finished signals.
        conn.add_signal_receiver(lambda *a, **k: signals.append(k.get('member')), dbus_interface=SESSION,
                                 path=path, member_keyword='member')
    r, w = os.pipe()
    result = call_to_fd(conn, target, method, args.prompt, opts, w)
    os.close(w)
    data = bytearray()
    eof = [False]

    def readable(fd, cond):
        chunk = os.read(fd, 65536)
        if not chunk:
            eof[0] = True
            return False
        data.extend(chunk)
        return True

    GLib.io_add_watch(r, GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, readable)
    run_until(lambda: eof[0] and result, TIMEOUT, 'the reply and end of file')
    os.close(r)
    sys.stdout.buffer.write(bytes(data))
    sys.stdout.buffer.flush()
    if 'error' in result:
        log(f'error {result["error"]}: {result["message"]}')
        sys.exit(3)
    write_info(args.info, result['info'])
    log(f'finished {result["info"].get("finish_reason")} bytes={len(data)}')
    if signals:
        fail(f'{method} sent signals: {signals[:5]}')


def cmd_hold_fd(args):
    """GenerateToFd into a small pipe that is never read: the answer must end as slow-consumer
    (the reply comes once the daemon gives up on the pipe) and the daemon must not block."""
    conn = connect()
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, args.pipe_size)
    t0 = time.monotonic()
    result = call_to_fd(conn, manager(conn), 'GenerateToFd', args.prompt, options(args.opt), w)
    os.close(w)
    run_until(lambda: result, TIMEOUT, 'the GenerateToFd reply')
    log(f'reply after {time.monotonic() - t0:.1f}s: {result}')
    os.close(r)
    if 'error' in result:
        log(f'error {result["error"]}: {result["message"]}')
        sys.exit(3)
    print(result['info'].get('finish_reason'))


def cmd_close_fd(args):
    """GenerateToFd into a pipe whose reader goes away after some bytes: the daemon must end
    the request and reply (not hang, not die of SIGPIPE)."""
    conn = connect()
    r, w = os.pipe()
    result = call_to_fd(conn, manager(conn), 'GenerateToFd', args.prompt, options(args.opt), w)
    os.close(w)
    got = bytearray()
    deadline = time.monotonic() + 60
    while len(got) < args.after:
        if time.monotonic() > deadline:
            fail('no output arrived')
        ready, _, _ = select.select([r], [], [], 0.05)
        if ready:
            chunk = os.read(r, args.after - len(got))
            if not chunk:
                break
            got.extend(chunk)
        drain_pending()
    os.close(r)
    run_until(lambda: result, TIMEOUT, 'the GenerateToFd reply')
    print(result.get('error') or result['info'].get('finish_reason'))


# ---- more than one client ----

def expect_dbus_error(what, fn, allowed):
    try:
        v = fn()
    except dbus.exceptions.DBusException as e:
        if e.get_dbus_name() not in allowed:
            fail(f'{what}: got {e.get_dbus_name()} ({e.get_dbus_message()}), expected {" or ".join(allowed)}')
        log(f'ok: {what} -> {e.get_dbus_name()}')
        return e.get_dbus_name()
    fail(f'{what} succeeded ({plain(v)!r}); expected {" or ".join(allowed)}')


def cmd_steal(args):
    """The owner streams an answer; a second connection on the same bus tries everything on the
    owner's session while it runs and must be refused each time, must not see its signals with
    ordinary match rules, and must not find it listed. Prints the owner's answer."""
    owner = connect()
    thief = connect()
    st = Stream(owner, options(args.session_opt))
    path = str(st.path)
    hexid = path.rsplit('/', 1)[-1]
    seen = []
    # What any client may subscribe to without eavesdropping: the session's path, its interface,
    # every signal. Unicast signals addressed to the owner must reach none of these. (The test
    # bus allows eavesdropping, a bus policy matter the daemon cannot affect; not tried here.)
    thief.add_signal_receiver(lambda *a, **k: seen.append(('path', k.get('member'))), path=path,
                              member_keyword='member')
    thief.add_signal_receiver(lambda *a, **k: seen.append(('interface', k.get('member'))),
                              dbus_interface=SESSION, member_keyword='member')
    thief.add_signal_receiver(lambda *a, **k: seen.append((k.get('path'), k.get('member'))),
                              member_keyword='member', path_keyword='path')
    st.prompt(args.prompt, options(args.opt))

    obj = session_obj(thief, path)
    ses = dbus.Interface(obj, SESSION)
    props = dbus.Interface(obj, PROPS)
    denied = [ACCESS_DENIED]
    expect_dbus_error('thief Session.Prompt', lambda: ses.Prompt('steal', {}, signature='sa{sv}'), denied)
    expect_dbus_error('thief Session.Append', lambda: ses.Append('steal', {}, signature='sa{sv}'), denied)
    r, w = os.pipe()
    expect_dbus_error('thief Session.PromptToFd',
                      lambda: ses.PromptToFd(dbus.types.UnixFd(w), 'steal', {}, signature='hsa{sv}'), denied)
    os.close(r)
    os.close(w)
    expect_dbus_error('thief Session.Cancel', lambda: ses.Cancel(dbus.UInt64(0)), denied)
    expect_dbus_error('thief Session.Clone', lambda: ses.Clone({}, signature='a{sv}'), denied)
    expect_dbus_error('thief Session.Close', lambda: ses.Close(), denied)
    for p in ('ContextUsage', 'ContextWindow', 'Busy', 'CacheScope'):
        expect_dbus_error(f'thief Get {p}', lambda: props.Get(SESSION, p), denied)
    expect_dbus_error('thief GetAll', lambda: props.GetAll(SESSION), denied)
    try:
        xml = dbus.Interface(obj, INTROSPECTABLE).Introspect()
        if SESSION in xml:
            fail(f'thief introspection of {path} shows the Session interface:\n{xml}')
        log(f'ok: thief Introspect {path} -> no Session interface')
    except dbus.exceptions.DBusException as e:
        if e.get_dbus_name() not in (ACCESS_DENIED, UNKNOWN_OBJECT):
            fail(f'thief Introspect: {e.get_dbus_name()}, expected AccessDenied or UnknownObject')
        log(f'ok: thief Introspect {path} -> {e.get_dbus_name()}')
    for parent in (PATH, PATH + '/session'):
        xml = str(dbus.Interface(session_obj(thief, parent), INTROSPECTABLE).Introspect())
        if hexid in xml:
            fail(f'thief introspection of {parent} lists the owner\'s session:\n{xml}')
    log('ok: thief introspection of the parents does not list the session')
    listed = manager(thief).ListSessions()
    if listed:
        fail(f'thief ListSessions lists {list(listed)}')
    log('ok: thief ListSessions is empty')
    mine = [str(p) for p in manager(owner).ListSessions()]
    if mine != [path]:
        fail(f'owner ListSessions is {mine}, expected [{path}]')
    log('ok: owner ListSessions lists its session')

    # All of the above happened while the owner's request ran (or the test proves little).
    if not bool(dbus.Interface(st.obj, PROPS).Get(SESSION, 'Busy')):
        fail('the owner\'s request ended before the thief was done: make the answer longer')
    log('ok: the owner\'s request was running during all of it')
    st.wait()
    # The thief's round trip to gemmad after Finished: anything gemmad sent it before is in.
    dbus.Interface(thief.get_object(NAME, PATH, introspect=False), 'org.freedesktop.DBus.Peer').Ping()
    drain_pending()
    leaked = [s for s in seen if s[1] in ('Chunk', 'Finished')]
    if leaked:
        fail(f'the thief received {len(leaked)} session signals: {leaked[:5]}')
    if len(st.chunks) == 0:
        fail('the owner received no Chunk')
    log(f'ok: the owner got {len(st.chunks)} Chunks and Finished {st.finished[0]}; the thief saw none')
    if st.errors:
        fail('; '.join(st.errors))
    out(st.text())


def cmd_busy(args):
    """One request at a time per session: a second Prompt (and PromptToFd, Append, Clone) while
    the first runs is org.gemmad.Gemmad1.Error.Busy; Cancel(0) ends it with 'cancelled'."""
    conn = connect()
    st = Stream(conn, options(args.session_opt))
    props = dbus.Interface(st.obj, PROPS)
    st.prompt(args.prompt, options(args.opt))
    if not bool(props.Get(SESSION, 'Busy')):
        fail('Busy is false right after Prompt')
    busy = ['org.gemmad.Gemmad1.Error.Busy']
    expect_dbus_error('second Prompt', lambda: st.session.Prompt('again', {}, signature='sa{sv}'), busy)
    r, w = os.pipe()
    expect_dbus_error('PromptToFd while busy',
                      lambda: st.session.PromptToFd(dbus.types.UnixFd(w), 'again', {}, signature='hsa{sv}'), busy)
    os.close(r)
    os.close(w)
    expect_dbus_error('Append while busy', lambda: st.session.Append('again', {}, signature='sa{sv}'), busy)
    expect_dbus_error('Clone while busy', lambda: st.session.Clone({}, signature='a{sv}'), busy)
    run_until(lambda: st.chunks or st.finished, 60, 'the first Chunk')   # cancel with text out
    st.session.Cancel(dbus.UInt64(0))
    st.wait(60)
    if st.finished[0] != 'cancelled':
        fail(f'Finished {st.finished[0]} after Cancel(0), expected cancelled')
    log(f'ok: Cancel(0) -> Finished cancelled after {len(st.chunks)} chunks')
    if bool(props.Get(SESSION, 'Busy')):
        fail('Busy is still true after Finished')
    # A finished id is not an error; the session takes the next prompt.
    st.session.Cancel(dbus.UInt64(st.request))
    st2_req = st.session.Prompt('next', options(['max_tokens=u:4']), timeout=TIMEOUT)
    st.request, st.finished, st.chunks = int(st2_req), None, []
    st.wait(60)
    log(f'ok: the next Prompt after cancel finished {st.finished[0]}')
    if st.errors:
        fail('; '.join(st.errors))


def child_stream(wfd, prompt, opts):
    """In a forked child: stream, tell the parent at the first Chunk, go on until killed."""
    try:
        conn = connect()
        st = Stream(conn, dbus.Dictionary({}, signature='sv'))
        st.on_first_chunk = lambda: os.write(wfd, b'c')
        st.prompt(prompt, opts)
        st.wait(120)
        os.write(wfd, b'f')   # finished before it was killed: the parent counts it
        time.sleep(120)
    except BaseException as e:   # noqa: BLE001 - report anything to the parent
        try:
            os.write(wfd, b'E' + str(e).encode()[:200])
        finally:
            os._exit(1)
    os._exit(0)


def cmd_kill_loop(args):
    """N clients, one after the other: each creates a session and prompts; when its first Chunk
    arrives it is SIGKILLed. Fails on any client error (e.g. LimitsExceeded because sessions of
    dead clients were not freed)."""
    opts = options(args.opt)
    finished_early = 0
    t0 = time.monotonic()
    for i in range(args.n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child_stream(w, args.prompt, opts)
        os.close(w)
        ready, _, _ = select.select([r], [], [], 60)
        msg = os.read(r, 256) if ready else b''
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        if not msg:
            fail(f'client {i}: no Chunk within 60 s')
        if msg.startswith(b'E'):
            fail(f'client {i}: {msg[1:].decode(errors="replace")}')
        if msg.startswith(b'f'):
            finished_early += 1
    log(f'{args.n} clients killed after their first Chunk in {time.monotonic() - t0:.1f}s'
        f' ({finished_early} had already finished)')


def cmd_introspect_session(args):
    """Prints the introspection XML of a session object, as its owner sees it."""
    conn = connect()
    path = manager(conn).CreateSession(dbus.Dictionary({}, signature='sv'))
    xml = dbus.Interface(session_obj(conn, path), INTROSPECTABLE).Introspect()
    sys.stdout.write(str(xml))


def members(xml_text, interface):
    root = ET.fromstring(xml_text)
    for itf in root.iter('interface'):
        if itf.get('name') == interface:
            break
    else:
        return None
    got = {}
    for m in itf.findall('method'):
        got['method ' + m.get('name')] = [(a.get('direction', 'in'), a.get('type')) for a in m.findall('arg')]
    for s in itf.findall('signal'):
        got['signal ' + s.get('name')] = [a.get('type') for a in s.findall('arg')]
    for p in itf.findall('property'):
        got['property ' + p.get('name')] = (p.get('type'), p.get('access'))
    return got


def cmd_compare_xml(args):
    """The members (and their signatures) of INTERFACE in GOT equal those in WANT."""
    with open(args.got) as f:
        got = members(f.read(), args.interface)
    with open(args.want) as f:
        want = members(f.read(), args.interface)
    if got is None:
        fail(f'{args.got} has no interface {args.interface}')
    if want is None:
        fail(f'{args.want} has no interface {args.interface}')
    problems = []
    for k in sorted(set(want) - set(got)):
        problems.append(f'missing on the bus: {k}')
    for k in sorted(set(got) - set(want)):
        problems.append(f'not in the XML: {k}')
    for k in sorted(set(got) & set(want)):
        if got[k] != want[k]:
            problems.append(f'{k}: bus {got[k]} != XML {want[k]}')
    if problems:
        fail(f'{args.interface} differs from {os.path.basename(args.want)}:\n  ' + '\n  '.join(problems))
    print(f'{args.interface}: {len(got)} members match the XML')
    if args.list:
        for k in sorted(got):
            print(k)


def cmd_notify_listen(args):
    """An sd_notify socket (TESTING.md §8): one line per datagram, newlines shown as '|'."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(args.socket)
    with open(args.out, 'a') as f:
        f.write('listening\n')
        f.flush()
        while True:
            f.write(s.recv(4096).decode(errors='replace').replace('\n', '|') + '\n')
            f.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)

    def add(name, fn, prompt=True):
        p = sub.add_parser(name, help=fn.__doc__.splitlines()[0] if fn.__doc__ else None)
        if prompt:
            p.add_argument('prompt')
        p.add_argument('-o', '--opt', action='append', help='request option KEY=TYPE:VALUE')
        p.add_argument('-s', '--session-opt', action='append', help='CreateSession option KEY=TYPE:VALUE')
        p.add_argument('--info', help='write the info dictionary (JSON) here')
        p.set_defaults(fn=fn)
        return p

    p = add('stream', cmd_stream)
    p.add_argument('--ready', help='write the session path to this file at the first Chunk')
    p.add_argument('--expect-reason', help='comma-separated Finished reasons that are acceptable')
    p = add('generate', cmd_generate)
    p.add_argument('--prompt-bytes', type=int, help='send a prompt of this many bytes instead')
    p.add_argument('--system-bytes', type=int, help='add a system text of this many bytes')
    p = add('to-fd', cmd_to_fd)
    p.add_argument('--manager', action='store_true', help='Manager.GenerateToFd instead of PromptToFd')
    p = add('hold-fd', cmd_hold_fd)
    p.add_argument('--pipe-size', type=int, default=4096)
    p = add('close-fd', cmd_close_fd)
    p.add_argument('--after', type=int, default=16, help='bytes to read before closing')
    add('steal', cmd_steal)
    add('busy', cmd_busy)
    p = add('kill-loop', cmd_kill_loop)
    p.add_argument('n', type=int)
    add('introspect-session', cmd_introspect_session, prompt=False)
    p = sub.add_parser('compare-xml')
    p.add_argument('got')
    p.add_argument('want')
    p.add_argument('interface')
    p.add_argument('--list', action='store_true')
    p.set_defaults(fn=cmd_compare_xml)
    p = sub.add_parser('notify-listen')
    p.add_argument('socket')
    p.add_argument('out')
    p.set_defaults(fn=cmd_notify_listen)

    args = ap.parse_args()
    try:
        args.fn(args)
    except dbus.exceptions.DBusException as e:
        log(f'error {e.get_dbus_name()}: {e.get_dbus_message()}')
        sys.exit(3)


if __name__ == '__main__':
    main()

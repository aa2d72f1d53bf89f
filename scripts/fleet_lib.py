"""Helpers the fleet scripts share (fleet-propagation.sh, fleet-under-load.sh): free ports,
waiting for a listener, a plain HTTP upstream that answers 200 "ok", and a redis-server."""
import http.server, socket, subprocess, sys, threading, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_port(port, what, logs):
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start (logs in {logs})")


class _Up(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass


def start_upstream():
    """A threaded upstream on a free port; returns its port."""
    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 256  # the default 5 refuses connections under load
    up = Server(("127.0.0.1", 0), _Up)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    return up.server_address[1]


def start_redis(work, appendonly):
    """redis-server on a free port with its files in `work`; returns (process, port)."""
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "yes" if appendonly else "no", "--dir", work],
                         stdout=open(f"{work}/redis.log", "w"), stderr=subprocess.STDOUT)
    wait_port(port, "redis-server", work)
    return p, port

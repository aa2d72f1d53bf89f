#!/usr/bin/env python3
"""A real gRPC server and client for certgate's tests (grpcio, the C-core implementation:
a different HTTP/2 stack from the Rust `h2` crate Pingora uses, so a bug both Rust sides
share cannot hide). No protobuf: methods carry raw bytes, so no code generation is needed.

  server --cert C --key K --client-ca CA     prints its port, serves until killed
  client --port P --ca CA [--cert C --key K] --call KIND [--payload-bytes N]
         [--timeout S] [--metadata k=v ...]  prints one JSON line

Service `test.Echo` (and the same as `test.Bound`):
  Unary         request -> b"echo:" + request; trailer x-trailer: unary
  ServerStream  request = count -> count messages b"m<i>"; trailer x-trailer: server
  ClientStream  n messages -> b"got:<n>:<total bytes>"
  Bidi          each message -> the same message reversed
  Slow          sleeps the seconds the request says, then b"late"
  Headers       the request metadata it received, as JSON
"""
import argparse
import json
import sys
import time
from concurrent import futures

import grpc

UNLIMITED = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def unary(req, ctx):
    ctx.set_trailing_metadata((("x-trailer", "unary"),))
    return b"echo:" + req


def server_stream(req, ctx):
    for i in range(int(req or b"3")):
        yield b"m%d" % i
    ctx.set_trailing_metadata((("x-trailer", "server"),))


def client_stream(it, ctx):
    msgs = list(it)
    return b"got:%d:%d" % (len(msgs), sum(len(m) for m in msgs))


def bidi(it, ctx):
    for m in it:
        yield m[::-1]


def slow(req, ctx):
    time.sleep(float(req or b"1"))
    return b"late"


def headers(req, ctx):
    seen = {k: v for k, v in ctx.invocation_metadata() if isinstance(v, str)}
    # The deadline the call arrived with (from `grpc-timeout`), in seconds, or None.
    seen["time_remaining"] = ctx.time_remaining()
    return json.dumps(seen).encode()


def serve(args):
    creds = grpc.ssl_server_credentials(
        [(open(args.key, "rb").read(), open(args.cert, "rb").read())],
        root_certificates=open(args.client_ca, "rb").read(),
        require_client_auth=True,
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=UNLIMITED)
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Headers": grpc.unary_unary_rpc_method_handler(headers),
    }
    # The same methods under a second service name, so a test can route it to another API.
    server.add_generic_rpc_handlers(
        tuple(grpc.method_handlers_generic_handler(name, handlers) for name in ("test.Echo", "test.Bound"))
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


def call(args):
    read = lambda p: open(p, "rb").read() if p else None
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca), private_key=read(args.key), certificate_chain=read(args.cert)
    )
    options = UNLIMITED + [("grpc.ssl_target_name_override", "localhost"), ("grpc.enable_retries", 0)]
    channel = grpc.secure_channel("127.0.0.1:%d" % args.port, creds, options=options)
    metadata = [tuple(m.split("=", 1)) for m in args.metadata]
    payload = b"x" * args.payload_bytes if args.payload_bytes else b"hello"
    kw = dict(timeout=args.timeout, metadata=metadata or None)
    method = "/test.%s/" % args.service + {
        "unary": "Unary", "server": "ServerStream", "client": "ClientStream", "bidi": "Bidi",
        "slow": "Slow", "headers": "Headers", "cancel": "Bidi",
    }[args.call]
    out = {"responses": []}
    try:
        if args.call in ("unary", "headers"):
            resp, c = channel.unary_unary(method).with_call(payload, **kw)
            out["responses"] = [resp.decode("latin-1")]
        elif args.call == "slow":
            resp, c = channel.unary_unary(method).with_call(args.slow.encode(), **kw)
            out["responses"] = [resp.decode()]
        elif args.call == "server":
            c = channel.unary_stream(method)(b"5", **kw)
            out["responses"] = [m.decode() for m in c]
        elif args.call == "client":
            resp, c = channel.stream_unary(method).with_call(iter([payload] * 4), **kw)
            out["responses"] = [resp.decode()]
        elif args.call == "bidi":
            c = channel.stream_stream(method)(iter([b"abc", b"def", payload]), **kw)
            out["responses"] = [m.decode("latin-1") for m in c]
        elif args.call == "cancel":
            # A bidirectional call given up after the first answer.
            def forever():
                while True:
                    yield b"ping"
                    time.sleep(0.05)
            c = channel.stream_stream(method)(forever(), **kw)
            out["responses"] = [next(c).decode()]
            c.cancel()
        out["code"] = c.code().name
        out["details"] = c.details()
        out["trailers"] = {k: v for k, v in (c.trailing_metadata() or ()) if isinstance(v, str)}
    except grpc.RpcError as e:
        out["code"] = e.code().name
        out["details"] = e.details()
        out["trailers"] = {k: v for k, v in (e.trailing_metadata() or ()) if isinstance(v, str)}
    if args.payload_bytes:
        out["responses"] = [len(r) for r in out["responses"]]
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--client-ca", required=True)
    c = sub.add_parser("client")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--ca", required=True)
    c.add_argument("--cert")
    c.add_argument("--key")
    c.add_argument("--call", required=True)
    c.add_argument("--service", default="Echo")
    c.add_argument("--payload-bytes", type=int, default=0)
    c.add_argument("--timeout", type=float, default=10)
    c.add_argument("--slow", default="1")
    c.add_argument("--metadata", action="append", default=[])
    args = p.parse_args()
    serve(args) if args.mode == "server" else call(args)


if __name__ == "__main__":
    sys.exit(main())

"""``doclrp serve``: the local web app on uvicorn, its URL printed.

>>> from doclrp.cli.parsers import build_parser
>>> allowed_hosts(build_parser().parse_args(["serve", "--host", "10.0.0.5", "--allow-host", "Box.lan"]))
['10.0.0.5', 'box.lan']
>>> url_of("::1", 8765)
'http://[::1]:8765/'
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

from doclrp.cli.checks import VOCAB_MODEL_SUFFIXES
from doclrp.cli.options import device_from_args, prompt_options
from doclrp.errors import DoclrpError
from doclrp.models.loading import pretrained_path

__all__ = ["run", "allowed_hosts", "url_of", "SHUTDOWN_GRACE_S"]

#: Seconds uvicorn waits for open requests at shutdown (their work is stopped at once).
SHUTDOWN_GRACE_S = 2

def allowed_hosts(args) -> list[str]:
    """The host names the server answers to besides loopback ones: the bound address, ``--allow-host``."""
    names = [args.host, *args.allow_host]
    if args.host in ("0.0.0.0", "::"):
        names.append(socket.gethostname())
    return list(dict.fromkeys(name.lower() for name in names))


def url_of(host: str, port: int) -> str:
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def _models(args) -> list[Any] | dict[str, Any]:
    """The shipped model and the --models folders; with Keras/ONNX files among them, or with --prompt
    (the folders are language models read as classifiers), ``{id: folder or pipeline}``, the files
    and language models read here (the app serves pipelines as folders)."""
    options = prompt_options(args)
    sources = [pretrained_path(), *args.models]
    if not options and not any(Path(source).suffix.lower() in VOCAB_MODEL_SUFFIXES for source in args.models):
        return sources
    if options and not args.models:
        raise DoclrpError("--prompt applies to the --models folders: give a language model folder with --models")
    from doclrp.models.loading import load_model  # torch and transformers: only when these ask for them
    from doclrp.serve.models import model_id

    models: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for number, source in enumerate(sources):
        base = model_id(source)
        key, n = base, 2
        while key in models:
            key, n = f"{base}-{n}", n + 1
        models[key] = source
        try:
            if Path(source).suffix.lower() in VOCAB_MODEL_SUFFIXES:
                models[key] = load_model(source, device=args.device, vocab=args.vocab, labels=args.labels)
            elif options and number > 0:  # a --models folder: a language model with the prompt
                models[key] = load_model(source, device=args.device, labels=args.labels, **options)
        except DoclrpError as error:
            problems[key] = str(error)
    if problems:  # the folders' problems too: one line per bad model, as the app's registry says them
        for key, source in models.items():
            if key not in problems and isinstance(source, (str, Path)):
                try:
                    load_model(source, device=args.device)
                except DoclrpError as error:
                    problems[key] = str(error)
        lines = [f"{key}: {problems[key]}" for key in models if key in problems]
        raise DoclrpError(f"cannot serve model {lines[0]}" if len(lines) == 1
                          else f"{len(lines)} models cannot be served:\n  " + "\n  ".join(lines))
    return models


def run(args) -> int:
    """Serve until interrupted."""
    try:
        # Optional extra: the rest of doclrp works without a web server installed.
        import uvicorn
        from doclrp.serve import Limits, create_app
        from doclrp.serve.security import is_loopback
    except ImportError as error:
        raise DoclrpError(f"doclrp serve needs FastAPI and uvicorn ({error.name} is missing): "
                          "pip install 'doclrp[serve]'") from None
    if args.max_chars < 1 or args.timeout <= 0:
        raise DoclrpError("--max-chars and --timeout must be positive")
    if not 0 <= args.batch_window <= 1 or not 1 <= args.max_batch <= 256:
        raise DoclrpError("--batch-window takes 0 to 1 seconds and --max-batch 1 to 256 documents")
    if not 1 <= args.max_queue <= 10_000:
        raise DoclrpError(f"--max-queue takes 1 to 10000 requests, got {args.max_queue}")
    if not 0 <= args.port <= 65535:
        raise DoclrpError(f"--port {args.port} is not a port number (0 to 65535)")
    device_from_args(args)
    if not is_loopback(args.host):
        print(f"doclrp: warning: serving on {args.host}: anyone who can reach this machine can use the app",
              file=sys.stderr)
    app = create_app(models=_models(args), results=args.results,
                     limits=Limits(max_chars=args.max_chars, timeout_s=args.timeout,
                                   batch_window_s=args.batch_window, max_batch=args.max_batch,
                                   max_queue=args.max_queue, max_bytes=args.max_bytes,
                                   max_pages=args.max_pages),
                     allowed_hosts=allowed_hosts(args), device=args.device)
    # Bound here (not by uvicorn) so that --port 0 can print the port it got.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as error:
        raise DoclrpError(f"cannot listen on {args.host}:{args.port}: {error.strerror}") from None
    # Listening before the URL is printed: a client that reads it and connects at once is queued
    # until uvicorn accepts, not refused.
    sock.listen(2048)
    port = sock.getsockname()[1]
    print(f"doclrp serve: open {url_of(args.host, port)}  (Ctrl+C to stop)", flush=True)
    state = app.state.server

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Ctrl+C / SIGTERM: running explanations stop within one operation and waiting
            # requests are answered, so uvicorn's graceful shutdown has nothing long to wait for.
            state.close()
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_S))
    interrupted = False
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl+C: uvicorn raises it again once it has shut down
        interrupted = True
    finally:
        state.close()
    if server.started:
        # A server that ran has stopped, its work too: end now. The interpreter's own teardown of
        # torch, spaCy and the models takes seconds more on a busy machine (5 s measured at load
        # 20 with MiniLM served), and nothing is left to write.
        if interrupted:
            print("doclrp: interrupted", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130 if interrupted else 0)
    if interrupted:
        raise KeyboardInterrupt
    return 0

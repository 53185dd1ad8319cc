"""``digitnet serve``: start the draw-a-digit page (:mod:`digitnet.web.app`) with uvicorn."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

# The most accurate shipped model, trained on distorted digits: the better one
# on bold and turned digits (tools/own_digits.py).
DEFAULT_MODEL = Path("models") / "mnist-best-augmented.npz"
REPO = Path(__file__).resolve().parents[3]


def default_model() -> Path:
    """The shipped best model: ./models/mnist-best-augmented.npz, else the repository's."""
    for candidate in (DEFAULT_MODEL, REPO / DEFAULT_MODEL):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no model given and {DEFAULT_MODEL} not found; pass a model file "
                      "(digitnet serve runs/quick/model.npz) or train one first (make train)")


def cmd_serve(args) -> int:
    try:
        import uvicorn

        from .app import create_app
    except ImportError as err:
        raise ConfigError(f"digitnet serve needs the web extras ({err.name} is missing): "
                          "pip install 'digitnet[web]'") from None
    if not 0 < args.port < 65536:
        raise ConfigError(f"port must be 1..65535, got {args.port}")
    _check_can_listen(args.host, args.port)
    model_path = args.model or default_model()
    app = create_app(model_path, args.data_dir)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"digitnet: serving {model_path} at http://{host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _check_can_listen(host: str, port: int) -> None:
    """Fail with one clear line (not uvicorn's log) if the address is taken or wrong."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        reason = err.strerror or str(err)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from None

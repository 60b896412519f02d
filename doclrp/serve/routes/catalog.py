"""What the page starts from: the page itself (``GET`` and ``HEAD /``), the models, the methods
and the colour maps. None of these touches a model: they never wait for one that is busy.

>>> sorted(route.path for route in router.routes)
['/', '/api/colormaps', '/api/methods', '/api/models']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from doclrp.core.baselines import BASELINES
from doclrp.core.methods import method_names, method_parameters, parameter_choices
from doclrp.serve.colormaps import colormap_tables
from doclrp.serve.responses import json_defaults
from doclrp.serve.schemas import ColormapInfo, MethodInfo, ModelInfo
from doclrp.serve.state import ServerState, server_state

__all__ = ["router", "STATIC"]

#: The page's files, shipped as package data.
STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


# HEAD as well: monitoring tools check that a server is up with it.
@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html")


@router.get("/api/models", response_model=list[ModelInfo])
def models(server: ServerState = Depends(server_state)) -> list[dict[str, Any]]:
    """The models this server explains, by id; the first is the default."""
    return [server.registry.get(id).info for id in server.registry.ids()]


@router.get("/api/methods", response_model=list[MethodInfo])
def methods() -> list[dict[str, Any]]:
    """Every LRP composite and baseline, with its parameters and their defaults."""
    return [{"name": name, "kind": "baseline" if name in BASELINES else "lrp",
             "params": json_defaults(method_parameters(name)),
             "choices": {key: list(values) for key, values in parameter_choices(name).items()}}
            for name in method_names()]


@router.get("/api/colormaps", response_model=list[ColormapInfo])
def colormaps() -> list[dict[str, Any]]:
    """The colour maps (the LRP Toolbox's among them), each sampled from -1 to +1."""
    return colormap_tables()

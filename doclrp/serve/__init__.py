"""``doclrp serve``: a local web app and HTTP API over ``explain`` (FastAPI, optional extra
``doclrp[serve]``). The page is static HTML, CSS and JavaScript in ``static/``: no CDN,
no build step.

>>> from doclrp.serve import create_app, Limits
>>> Limits().max_chars
50000
"""

from doclrp.serve.app import Limits, create_app

__all__ = ["create_app", "Limits"]

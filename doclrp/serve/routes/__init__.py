"""The app's routes, one router per part of the page: ``catalog`` (the page, models, methods,
colour maps), ``explain`` (explain, export), ``results`` (corpus results), ``digits`` (the
handwriting demo), ``upload`` (a document file explained), ``generation`` (what a served language
model writes). A new part of the app is a module here with a ``router`` that reaches the
server's state through ``Depends(server_state)``, and one line in :data:`ROUTERS`.

>>> [router.routes[0].path for router in ROUTERS]
['/', '/api/explain', '/api/results', '/api/digits', '/api/upload', '/api/generate']
"""

from doclrp.serve.routes import catalog, digits, explain, generation, results, upload

__all__ = ["ROUTERS"]

#: Included by :func:`doclrp.serve.create_app`, in this order.
ROUTERS = [catalog.router, explain.router, results.router, digits.router, upload.router, generation.router]

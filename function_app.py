"""Composition root for the Azure Functions host: the ASGI API plus one blueprint per stage.

Wiring only: settings are read once, adapters are chosen in `shared.bootstrap`, and each
blueprint in `functions/` turns its trigger's payload into domain calls.
"""

import azure.functions as func

from functions import ingest, platform, series
from shared.api import create_app

app = func.AsgiFunctionApp(app=create_app(platform()), http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(ingest.bp)
app.register_functions(series.bp)

"""The OpenAPI document is the API's contract: the committed copy must match the app's."""

from __future__ import annotations

import json
from pathlib import Path

from decayrec.serve import ServeSettings, create_app

DOCUMENT = Path(__file__).parents[3] / "docs" / "openapi.json"


def test_the_committed_openapi_document_is_current() -> None:
    served = create_app(ServeSettings(model_dir=Path("unused"))).openapi()
    committed = json.loads(DOCUMENT.read_text())
    assert served == committed, (
        "The HTTP API changed: review the diff, then run "
        "`decayrec serve --openapi docs/openapi.json` and commit the document."
    )


def test_every_operation_is_versioned_and_described() -> None:
    document = json.loads(DOCUMENT.read_text())
    for path, operations in document["paths"].items():
        assert path.startswith("/v1/") or path in {"/healthz", "/metrics"}, path
        for operation in operations.values():
            assert operation.get("description") or operation.get("summary"), path

"""Validates an OpenAPI document (read from the file named by the first argument) against the
OpenAPI 3.x schema with openapi-spec-validator. Exits non-zero when invalid."""

import json
import sys

from openapi_spec_validator import validate


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as document:
        spec = json.load(document)
    validate(spec)
    print(f"valid OpenAPI {spec['openapi']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Checks YAML files against a JSON Schema: prints `ok PATH` or `invalid PATH: WHY`
per file. Used by tests/cli.rs with the output of `dag schema`."""

import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    try:
        doc = yaml.safe_load(open(path, encoding="utf-8"))
    except Exception as e:  # a file the YAML parser refuses is invalid too
        print(f"invalid {path}: yaml: {e}".replace("\n", " "))
        continue
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        print(f"invalid {path}: {errors[0].message}".replace("\n", " "))
    else:
        print(f"ok {path}")

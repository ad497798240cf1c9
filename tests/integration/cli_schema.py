"""The JSON schemas of docs/CLI.md, and a validator for the subset of JSON
Schema they use (type, const, enum, required, properties,
additionalProperties, items, minimum, maximum, format date-time, $ref to the
shared definitions). Standard library only."""

import json
import os
import re

DOC = os.path.join(os.path.dirname(__file__), "../../docs/CLI.md")
_BLOCK = re.compile(r"<!-- schema: (#?[\w-]+) -->\s*```json\n(.*?)```", re.S)
_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def load():
    """{name: schema}; shared definitions keep their '#' prefix."""
    with open(DOC) as f:
        text = f.read()
    return {m.group(1): json.loads(m.group(2)) for m in _BLOCK.finditer(text)}


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def errors(value, schema, schemas, path="$"):
    """Every way `value` breaks `schema`, as a list of strings."""
    out = []
    if "$ref" in schema:
        return errors(value, schemas[schema["$ref"].replace("#/", "#")], schemas, path)
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return out + [f"{path}: {value!r} is not {types}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} > {schema['maximum']}")
    if schema.get("format") == "date-time" and isinstance(value, str):
        if not _DATE_TIME.match(value):
            out.append(f"{path}: {value!r} is not RFC 3339 UTC with milliseconds")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                out.append(f"{path}: missing {k!r}")
        for k, v in value.items():
            if k in props:
                out += errors(v, props[k], schemas, f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{path}: unexpected field {k!r}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            out += errors(v, schema["items"], schemas, f"{path}[{i}]")
    return out


def check(obj, schemas=None):
    """Raises AssertionError unless `obj` matches its command's schema (the
    usage schema for a USAGE refusal of a command whose schema says so)."""
    schemas = schemas or load()
    command = obj.get("command")
    name = {"acquire": "lock"}.get(command, command)
    if obj.get("result") == "USAGE" and command != "hold":
        name = "usage"
    if name not in schemas:
        raise AssertionError(f"no schema in docs/CLI.md for command {command!r}: {obj}")
    problems = errors(obj, schemas[name], schemas)
    if problems:
        raise AssertionError(f"{command} output does not match docs/CLI.md:\n  " +
                             "\n  ".join(problems) + f"\n  object: {obj}")

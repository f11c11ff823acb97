"""Checks a bundle configuration the way `databricks bundle validate` starts: against the CLI's
published bundle JSON schema (tests/vendor/databricks-cli/jsonschema.json), and the CLI's
unique-resource-key rule (databricks/cli bundle/config/validate/unique_resource_keys.go: one key
may name one resource only, across every resource type).

The schema's patterns are Go regular expressions (`\\p{L}`, `\\p{N}`), which Python's `re`
cannot compile: the `pattern` keyword is checked with the `regex` module, which reads them.

argv[1]: the schema file. stdin: the configuration as JSON (databricks.yml, parsed). Prints
one line per problem; exits 1 if there is any, 0 otherwise.
"""

import json
import sys

import jsonschema
import regex


def pattern(validator, expected, instance, schema):
    # As jsonschema's own `pattern`, with a regular-expression engine that knows \p{..}.
    if validator.is_type(instance, "string") and not regex.search(expected, instance):
        yield jsonschema.ValidationError("%r does not match %r" % (instance, expected))


def schema_problems(schema, config):
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = jsonschema.validators.extend(base, {"pattern": pattern})(schema)
    problems = []
    for error in validator.iter_errors(config):
        # oneOf errors say little: name the deepest failing branch too.
        best = jsonschema.exceptions.best_match([error])
        where = "/".join(str(p) for p in best.absolute_path) or "<root>"
        problems.append("schema: %s: %s" % (where, best.message))
    return problems


def key_problems(config):
    seen = {}
    for kind, resources in (config.get("resources") or {}).items():
        for key in resources or {}:
            seen.setdefault(key, []).append("resources.%s.%s" % (kind, key))
    return [
        "unique keys: multiple resources have been defined with the same key: %s (%s)" % (key, ", ".join(paths))
        for key, paths in seen.items()
        if len(paths) > 1
    ]


def main():
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    config = json.load(sys.stdin)
    problems = schema_problems(schema, config) + key_problems(config)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

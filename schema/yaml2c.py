#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn schema/openapi.yaml into a C file defining the JSON text the
daemon serves at /v1/openapi.json:

    yaml2c.py IN.yaml SYMBOL [JOB-SPEC.schema.json] > OUT.c

With the job-spec schema (generated from the engine's one job-spec table,
engine/jobs/spec_table.c, and kept in step by a test), the hyperparameters
of each algorithm and search space become a real schema,
components.schemas.Hyperparameters-<algorithm>-<space> (every key with its
type, range, default and description), JobSpec's `hyperparameters` an
anyOf of them and its `final_training` the schema's: nothing of them is
written by hand in the YAML."""
import json
import sys

import yaml


def hyperparameter_schemas(spec):
    """(algorithm, space, schema) of every row of the job-spec schema."""
    for algo_rule in spec["allOf"]:
        algo = algo_rule["if"]["properties"]["algorithm"]["const"]
        for rule in algo_rule["then"]["allOf"]:
            props = rule["then"]["properties"]
            space = rule["if"].get("properties", {}).get("search_space", {}).get("const")
            if space is None:   # train: the architecture's space
                arch = props["architecture"]["anyOf"][0]
                space = arch["properties"]["space"]["default"]
            yield algo, space, props["hyperparameters"]


doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
if len(sys.argv) > 3:
    spec = json.load(open(sys.argv[3], encoding="utf-8"))
    schemas = doc["components"]["schemas"]
    refs = []
    for algo, space, hp in hyperparameter_schemas(spec):
        name = "Hyperparameters-%s-%s" % (algo, space)
        schemas[name] = dict(hp, title="hyperparameters of %s over %s" % (algo, space))
        refs.append({"$ref": "#/components/schemas/" + name})
    props = schemas["JobSpec"]["properties"]
    hp = props["hyperparameters"]
    hp.pop("type", None)
    hp["anyOf"] = refs + [{"type": "null"}]
    # final_training's keys are the table's too (the same for every space).
    props["final_training"] = dict(spec["properties"]["final_training"],
                                   description=props["final_training"]["description"])
text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True)
out = ['/* Generated from %s by schema/yaml2c.py: do not edit. */' % sys.argv[1],
       "const char %s[] =" % sys.argv[2]]
for i in range(0, len(text), 100):
    chunk = text[i:i + 100].replace("\\", "\\\\").replace('"', '\\"').replace("?", "\\?")
    out.append('    "%s"' % chunk)
out[-1] += ";"
print("\n".join(out))

#!/usr/bin/env python3
"""Turn schema/openapi.yaml into a C file defining the JSON text the
daemon serves at /v1/openapi.json:  yaml2c.py IN.yaml SYMBOL > OUT.c"""
import json
import sys

import yaml

doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True)
out = ['/* Generated from %s by schema/yaml2c.py: do not edit. */' % sys.argv[1],
       "const char %s[] =" % sys.argv[2]]
for i in range(0, len(text), 100):
    chunk = text[i:i + 100].replace("\\", "\\\\").replace('"', '\\"').replace("?", "\\?")
    out.append('    "%s"' % chunk)
out[-1] += ";"
print("\n".join(out))

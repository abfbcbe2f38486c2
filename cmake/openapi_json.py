#!/usr/bin/env python3
"""Turns an OpenAPI document in YAML into JSON and, optionally, into a C
source holding the JSON, so a program serves the document it was built
with. Run by the build (never committed output):

    openapi_json.py IN.yaml OUT.json [OUT.c SYMBOL]

Keys are written as text (YAML reads 200: as a number); a duplicate key or
a value JSON cannot hold is an error naming the file."""
import json
import sys

import yaml


class UniqueKeyLoader(yaml.SafeLoader):
    pass


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, "duplicate key %r" % (key,), key_node.start_mark)
        seen.add(key)
    return {str(k): v for k, v in loader.construct_mapping(node, deep).items()}


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def main(argv):
    if len(argv) not in (3, 5):
        sys.exit("usage: openapi_json.py IN.yaml OUT.json [OUT.c SYMBOL]")
    try:
        with open(argv[1], encoding="utf-8") as f:
            doc = yaml.load(f, Loader=UniqueKeyLoader)
        text = json.dumps(doc, ensure_ascii=False, sort_keys=False,
                          separators=(",", ":"))
    except (yaml.YAMLError, TypeError, ValueError) as e:
        sys.exit("%s: %s" % (argv[1], e))
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(text + "\n")
    if len(argv) == 5:
        data = text.encode("utf-8")
        sym = argv[4]
        lines = [", ".join("0x%02x" % b for b in data[i:i + 16])
                 for i in range(0, len(data), 16)]
        with open(argv[3], "w", encoding="ascii") as f:
            f.write("/* generated from %s by cmake/openapi_json.py: "
                    "do not edit */\n#include <stddef.h>\n\n" % argv[1].split("/")[-1])
            f.write("const unsigned char %s[] = {\n%s, 0};\n" % (sym, ",\n".join(lines)))
            f.write("const size_t %s_len = %d;\n" % (sym, len(data)))


if __name__ == "__main__":
    main(sys.argv)

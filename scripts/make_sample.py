#!/usr/bin/env python3
"""Make a small MLCPD-style dataset from real source code: nestdb's own Rust sources and part
of Python's standard library, parsed with tree-sitter into the MLCPD schema (one row per file;
columns language, code, avg_line_length, line_count, lang_specific_parse, ast_node_count,
num_errors, universal_schema, plus file_id, origin, path, sha256).

The universal_schema JSON follows the published MLCPD converter's shape, quirks included:
pre-order node ids; wrapper nodes (blocks, bodies, punctuation) are dropped and their children
keep the wrapper's parent as `parent` but are not listed in its `children`; categories come
from substring matching on node types; `metadata.errors` is always 0.

    python scripts/make_sample.py OUT_DIR [--python-files N]
"""
import argparse
import hashlib
import json
import os
import sys
import sysconfig
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

warnings.filterwarnings("ignore", category=FutureWarning)
from tree_sitter_languages import get_parser  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DROP_TYPES = {
    "(", ")", "{", "}", "[", "]", ",", ";", ":", ".", "::", "->", "=>", "=", "def", "class", "fn",
    "return", "if", "else", "for", "while", "import", "from", "as", "pub", "let", "mut", "use",
    "comment", "line_comment", "block_comment", "block", "module", "source_file", "declaration_list",
    "field_declaration_list", "expression_statement", "string_content", "string_start", "string_end",
}
CATEGORIES = [
    ("declarations", "functions", ("function", "method", "def ")),
    ("declarations", "classes", ("class", "struct", "interface", "trait", "union")),
    ("declarations", "imports", ("import", "include", "using", "use_declaration")),
    ("declarations", "modules", ("module", "namespace", "package", "mod_item")),
    ("declarations", "enums", ("enum",)),
    ("declarations", "variables", ("declaration", "definition", "variable", "let_")),
    ("statements", "returns", ("return",)),
    ("statements", "conditionals", ("if", "match", "switch", "case", "conditional")),
    ("statements", "loops", ("for", "while", "loop")),
    ("statements", "exceptions", ("try", "except", "raise", "finally")),
    ("statements", "assignments", ("assignment", "assign")),
    ("statements", "expressions", ("expression",)),
    ("expressions", "calls", ("call", "invocation")),
    ("expressions", "binary_operations", ("binary", "operator")),
    ("expressions", "unary_operations", ("unary",)),
    ("expressions", "member_access", ("member", "field", "attribute", "access")),
    ("expressions", "identifiers", ("identifier", "name")),
    ("expressions", "literals", ("literal", "string", "integer", "float", "boolean")),
]
LAYOUT = {
    "declarations": ["functions", "variables", "classes", "imports", "modules", "enums"],
    "statements": ["expressions", "assignments", "loops", "conditionals", "returns", "exceptions"],
    "expressions": ["calls", "literals", "identifiers", "binary_operations", "unary_operations", "member_access"],
}


def metrics(code):
    lines = [l for l in code.strip().split("\n") if l != ""]
    if not lines:
        return 0.0, 0
    return round(sum(len(l) for l in lines) / len(lines), 2), len(lines)


def walk_dump(src, root):
    out, n, stack = [], 0, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        n += 1
        snippet = src[node.start_byte:node.end_byte].decode("utf-8", "replace").replace("\n", "\\n")[:80]
        out.append("  " * depth + f'({node.type}) "{snippet}"')
        stack.extend((c, depth + 1) for c in reversed(node.children))
    text = "\n".join(out)
    return text, n, text.count("(ERROR)")


def nodes_of(src, root):
    nodes, stack = [], [(root, None, None)]
    while stack:
        node, parent, sink = stack.pop()
        if node.type in DROP_TYPES and node is not root:
            stack.extend((c, parent, None) for c in reversed(node.children))
            continue
        d = {"id": len(nodes), "type": node.type,
             "text": src[node.start_byte:node.end_byte].decode("utf-8", "replace"),
             "parent": parent, "children": [],
             "start_point": {"row": node.start_point[0], "column": node.start_point[1]},
             "end_point": {"row": node.end_point[0], "column": node.end_point[1]}}
        nodes.append(d)
        if sink is not None:
            sink.append(d["id"])
        stack.extend((c, d["id"], d["children"]) for c in reversed(node.children))
    return nodes


def categorize(nodes):
    cats = {top: {sub: [] for sub in subs} for top, subs in LAYOUT.items()}
    for n in nodes:
        for top, sub, keys in CATEGORIES:
            if any(k in n["type"] for k in keys):
                cats[top][sub].append(n["id"])
                break
    return cats


def name_of(text, lang):
    for kw in (("def ", "class ") if lang == "python" else ("fn ", "struct ", "enum ", "trait ", "impl ")):
        if kw in text:
            rest = text.split(kw, 1)[1]
            for stop in "(:<{ \n":
                rest = rest.split(stop)[0]
            return rest.strip() or "unknown"
    return "unknown"


def universal(tree, src, code, lang, lines, avg):
    nodes = nodes_of(src, tree.root_node)
    cats = categorize(nodes)
    cross = {"function_declarations": [], "class_declarations": [], "import_statements": []}
    for key, ids, utype in (("function_declarations", cats["declarations"]["functions"], "function"),
                            ("class_declarations", cats["declarations"]["classes"], "class")):
        for i in ids:
            t = nodes[i]["text"]
            cross[key].append({"node_id": i, "universal_type": utype, "name": name_of(t, lang), "text_snippet": t[:100]})
    for i in cats["declarations"]["imports"]:
        cross["import_statements"].append({"node_id": i, "text": nodes[i]["text"]})
    return json.dumps({
        "language": lang, "success": True,
        "metadata": {"lines": lines, "avg_line_length": avg, "nodes": len(nodes), "errors": 0,
                     "source_hash": hashlib.sha256(code.encode()).hexdigest(),
                     "categorized_nodes": sum(len(v) for d in cats.values() for v in d.values())},
        "ast": {"root": tree.root_node.type, "nodes": nodes},
        "node_categories": cats, "cross_language_map": cross, "original_source_code": code,
    })


def sources(python_files):
    rust = sorted(p for d in ("storage/src", "engine/src", "bindings", "benches/src") for p in (ROOT / d).rglob("*.rs"))
    for p in rust:
        yield "rust", "nestdb", str(p.relative_to(ROOT)), p
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    py = sorted(p for p in stdlib.glob("*.py") if p.stat().st_size < 200_000)
    for p in py[:python_files]:
        yield "python", "cpython-stdlib", p.name, p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--python-files", type=int, default=80)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = {"rust": [], "python": []}
    for fid, (lang, origin, path, p) in enumerate(sources(a.python_files)):
        code = p.read_text(encoding="utf-8", errors="replace")
        src = code.encode()
        tree = get_parser(lang).parse(src)
        avg, lines = metrics(code)
        dump, count, errors = walk_dump(src, tree.root_node)
        rows[lang].append({
            "language": lang, "code": code, "avg_line_length": avg, "line_count": lines,
            "lang_specific_parse": dump, "ast_node_count": count, "num_errors": errors,
            "universal_schema": universal(tree, src, code, lang, lines, avg),
            "file_id": fid, "origin": origin, "path": path, "sha256": hashlib.sha256(src).hexdigest(),
        })
    for lang, rs in rows.items():
        out = os.path.join(a.out, f"{lang}_parsed_1.parquet")
        pq.write_table(pa.Table.from_pylist(rs), out, compression="zstd")
        print(f"{out}: {len(rs)} files", file=sys.stderr)


if __name__ == "__main__":
    main()

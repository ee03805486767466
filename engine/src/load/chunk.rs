//! Definition chunks of one MLCPD row, from its `universal_schema` JSON and its `code`.
//!
//! Quirks of the real data this survives (see `data/MLCPD.md`): nodes under a dropped wrapper
//! keep `parent` but are missing from that parent's `children`, so the tree is rebuilt from
//! `parent` links only; node `text` can be shifted after non-ASCII characters, so chunk text is
//! cut from `code` by `start_point`/`end_point` (tree-sitter rows and byte columns); category
//! lists are heuristic, so definitions are recognised by node type per language, with
//! `cross_language_map` as the fallback for other languages; names of "unknown" are replaced
//! by the first identifier under the node; `c-sharp` is normalized to `c_sharp`.

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Deserialize)]
struct Universal {
    #[serde(default)]
    ast: Option<Ast>,
    #[serde(default)]
    cross_language_map: Option<CrossMap>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Ast {
    #[serde(default)]
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: usize,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    parent: Option<usize>,
    #[serde(default)]
    start_point: Option<Point>,
    #[serde(default)]
    end_point: Option<Point>,
}

#[derive(Deserialize, Clone, Copy)]
struct Point {
    row: usize,
    column: usize,
}

#[derive(Deserialize, Default)]
struct CrossMap {
    #[serde(default)]
    function_declarations: Vec<Decl>,
    #[serde(default)]
    class_declarations: Vec<Decl>,
}

#[derive(Deserialize)]
struct Decl {
    node_id: usize,
    #[serde(default)]
    universal_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    source_hash: Option<String>,
}

/// One definition.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// Normalized kind: function, method, class, struct, ...
    pub kind: String,
    /// The tree-sitter node type.
    pub node_type: String,
    /// Name.
    pub name: String,
    /// Enclosing definitions' names and this one's, dot-separated.
    pub qualified_name: String,
    /// Label from the schema and nesting, e.g. `python/declarations/classes/methods`.
    pub ast_label: String,
    /// First line (1-based).
    pub start_line: i64,
    /// Last line (1-based).
    pub end_line: i64,
    /// Source text.
    pub text: String,
}

/// What one row yields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileChunks {
    /// The definitions.
    pub chunks: Vec<Chunk>,
    /// `metadata.source_hash`.
    pub sha256: Option<String>,
}

/// Language names as written in the JSON (`c-sharp` becomes `c_sharp`).
pub fn normalize_language(l: &str) -> String {
    l.trim().to_lowercase().replace('-', "_")
}

/// The kind of a definition node type in `lang`, if it is one.
pub fn def_kind(lang: &str, ty: &str) -> Option<&'static str> {
    Some(match (lang, ty) {
        (
            _,
            "function_definition"
            | "function_declaration"
            | "function_item"
            | "generator_function_declaration"
            | "local_function_statement",
        ) => "function",
        (_, "method_declaration" | "method_definition" | "singleton_method") => "method",
        ("ruby", "method") => "method",
        (_, "constructor_declaration") => "constructor",
        ("python" | "scala", "class_definition") => "class",
        (_, "class_declaration" | "class_specifier" | "abstract_class_declaration") => "class",
        ("ruby", "class") => "class",
        (_, "interface_declaration") => "interface",
        (_, "enum_declaration" | "enum_specifier" | "enum_item") => "enum",
        (_, "record_declaration") => "record",
        (_, "struct_specifier" | "struct_declaration" | "struct_item") => "struct",
        (_, "union_specifier") => "union",
        (_, "trait_item" | "trait_definition") => "trait",
        (_, "impl_item") => "impl",
        ("ruby", "module") => "module",
        ("scala", "object_definition") => "object",
        ("go", "type_declaration") => "type",
        ("javascript" | "typescript", "lexical_declaration" | "variable_declaration") => "function",
        _ => return None,
    })
}

const CONTAINERS: [&str; 10] = [
    "class",
    "struct",
    "interface",
    "impl",
    "trait",
    "module",
    "object",
    "record",
    "enum",
    "union",
];
const NAME_TYPES: [&str; 7] = [
    "identifier",
    "name",
    "type_identifier",
    "field_identifier",
    "constant",
    "property_identifier",
    "simple_identifier",
];
const FUNCTION_VALUES: [&str; 4] = [
    "arrow_function",
    "function_expression",
    "function",
    "generator_function",
];

fn plural(kind: &str) -> String {
    match kind {
        "class" => "classes".into(),
        k => format!("{k}s"),
    }
}

/// Byte offsets of line starts.
fn line_starts(code: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(code.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The largest char boundary of `s` at or below `i`.
pub fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The source text between two points (tree-sitter rows, byte columns).
fn slice<'a>(code: &'a str, starts: &[usize], a: Point, b: Point) -> Option<&'a str> {
    let s = starts.get(a.row)? + a.column;
    let e = starts.get(b.row)? + b.column;
    let (s, e) = (floor_boundary(code, s), floor_boundary(code, e));
    (s < e).then(|| &code[s..e])
}

/// Extracts the definitions of one row. Errors describe bad JSON.
pub fn extract(
    lang: &str,
    code: &str,
    universal: &str,
    min_chars: usize,
) -> Result<FileChunks, String> {
    let u: Universal = serde_json::from_str(universal).map_err(|e| e.to_string())?;
    let lang = normalize_language(lang);
    let nodes = u.ast.map(|a| a.nodes).unwrap_or_default();
    let cross = u.cross_language_map.unwrap_or_default();
    let tree = Tree::new(lang, &nodes, &cross, code);
    let kinds = tree.definitions();
    let mut out = Vec::new();
    for n in &nodes {
        let Some((kind, name)) = kinds.get(&n.id) else {
            continue;
        };
        let encl = enclosing(n, &nodes, &tree.index, &kinds)?;
        out.extend(tree.chunk(n, kind, name, &encl, min_chars));
    }
    Ok(FileChunks {
        chunks: out,
        sha256: u.metadata.and_then(|m| m.source_hash),
    })
}

/// One row's AST with its lookups: nodes by id, children by parent link (the `children`
/// lists are unreliable), cross-language declarations by node id, and the code's lines.
struct Tree<'a> {
    /// The normalized language.
    lang: String,
    /// The nodes, in file order.
    nodes: &'a [Node],
    /// Node id to position in `nodes`.
    index: HashMap<usize, usize>,
    /// Node id to the ids of the nodes whose parent it is.
    children: HashMap<usize, Vec<usize>>,
    /// Node id to its cross-language declaration.
    decls: HashMap<usize, &'a Decl>,
    /// The source code.
    code: &'a str,
    /// Byte offsets of the code's line starts.
    starts: Vec<usize>,
}

impl<'a> Tree<'a> {
    /// Indexes `nodes` and `cross` of `code` in `lang` (normalized).
    fn new(lang: String, nodes: &'a [Node], cross: &'a CrossMap, code: &'a str) -> Tree<'a> {
        let index: HashMap<usize, usize> =
            nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
        let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
        for n in nodes {
            if let Some(p) = n.parent {
                children.entry(p).or_default().push(n.id);
            }
        }
        let decls: HashMap<usize, &Decl> = cross
            .function_declarations
            .iter()
            .chain(&cross.class_declarations)
            .map(|d| (d.node_id, d))
            .collect();
        Tree {
            lang,
            nodes,
            index,
            children,
            decls,
            code,
            starts: line_starts(code),
        }
    }

    /// The ids of the nodes at most `depth` levels below `id`, sorted.
    fn descendants(&self, id: usize, depth: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut frontier = vec![id];
        for _ in 0..depth {
            let next: Vec<usize> = frontier
                .iter()
                .flat_map(|f| self.children.get(f).cloned().unwrap_or_default())
                .collect();
            out.extend(&next);
            frontier = next;
        }
        out.sort_unstable();
        out
    }

    /// The type of node `id` ("" when there is no such node).
    fn ty_of(&self, id: usize) -> &'a str {
        self.index
            .get(&id)
            .map(|&i| self.nodes[i].ty.as_str())
            .unwrap_or("")
    }

    /// Kind and name of every definition node, by node id.
    fn definitions(&self) -> HashMap<usize, (String, String)> {
        let mut kinds: HashMap<usize, (String, String)> = HashMap::new();
        for n in self.nodes {
            let Some(kind) = self.kind_of(n) else {
                continue;
            };
            let name = self.name_of(n);
            kinds.insert(n.id, (kind.to_string(), name));
        }
        kinds
    }

    /// The kind of `n` if it is a definition: by node type (Go type declarations by what
    /// they declare, JS/TS variables only when they hold a function), else by the
    /// cross-language map.
    fn kind_of(&self, n: &Node) -> Option<&'static str> {
        Some(match def_kind(&self.lang, &n.ty) {
            Some("type") => match self
                .descendants(n.id, 3)
                .iter()
                .map(|&d| self.ty_of(d))
                .find(|t| *t == "struct_type" || *t == "interface_type")
            {
                Some("struct_type") => "struct",
                Some(_) => "interface",
                None => return None,
            },
            Some("function")
                if matches!(
                    n.ty.as_str(),
                    "lexical_declaration" | "variable_declaration"
                ) =>
            {
                if !self
                    .descendants(n.id, 3)
                    .iter()
                    .any(|&d| FUNCTION_VALUES.contains(&self.ty_of(d)))
                {
                    return None;
                }
                "function"
            }
            Some(k) => k,
            None => match self
                .decls
                .get(&n.id)
                .and_then(|d| d.universal_type.as_deref())
            {
                Some("function") => "function",
                Some("class") => "class",
                _ => return None,
            },
        })
    }

    /// The name of definition `n`: the cross-language map's unless empty or "unknown", else
    /// the text of the first identifier under it, else `<anonymous>`.
    fn name_of(&self, n: &Node) -> String {
        self.decls
            .get(&n.id)
            .and_then(|d| d.name.clone())
            .filter(|s| !s.is_empty() && s != "unknown")
            .or_else(|| {
                self.descendants(n.id, 3)
                    .into_iter()
                    .find(|&d| NAME_TYPES.contains(&self.ty_of(d)))
                    .and_then(|d| {
                        let nd = &self.nodes[self.index[&d]];
                        slice(self.code, &self.starts, nd.start_point?, nd.end_point?)
                            .map(str::to_string)
                    })
            })
            .unwrap_or_else(|| "<anonymous>".into())
    }

    /// The chunk of definition `n` (`kind`, `name`, inside `encl`): a function in a
    /// container is a method; none without a position, under `min_chars` or on one line.
    fn chunk(
        &self,
        n: &Node,
        kind: &str,
        name: &str,
        encl: &[(String, String)],
        min_chars: usize,
    ) -> Option<Chunk> {
        let mut kind = kind.to_string();
        if kind == "function"
            && encl
                .last()
                .is_some_and(|(k, _)| CONTAINERS.contains(&k.as_str()))
        {
            kind = "method".into();
        }
        let (Some(a), Some(b)) = (n.start_point, n.end_point) else {
            return None;
        };
        let text = slice(self.code, &self.starts, a, b)?;
        if text.trim().len() < min_chars || b.row == a.row {
            return None;
        }
        let mut label = vec![self.lang.clone(), "declarations".into()];
        label.extend(encl.iter().map(|(k, _)| plural(k)));
        label.push(plural(&kind));
        let mut qn: Vec<&str> = encl.iter().map(|(_, n)| n.as_str()).collect();
        qn.push(name);
        Some(Chunk {
            kind,
            node_type: n.ty.clone(),
            name: name.to_string(),
            qualified_name: qn.join("."),
            ast_label: label.join("/"),
            start_line: a.row as i64 + 1,
            end_line: b.row as i64 + 1,
            text: text.to_string(),
        })
    }
}

/// The definitions enclosing `n`, outermost first (at most 32 levels). Parent links that
/// form a cycle are an error, not an endless walk.
fn enclosing(
    n: &Node,
    nodes: &[Node],
    index: &HashMap<usize, usize>,
    kinds: &HashMap<usize, (String, String)>,
) -> Result<Vec<(String, String)>, String> {
    let mut encl = Vec::new();
    let mut p = n.parent;
    let mut steps = 0usize;
    while let Some(pid) = p {
        steps += 1;
        if steps > nodes.len() {
            return Err(format!(
                "the AST's parent links form a cycle (at node {})",
                n.id
            ));
        }
        if let Some(k) = kinds.get(&pid) {
            encl.push(k.clone());
        }
        p = index.get(&pid).and_then(|&i| nodes[i].parent);
        if encl.len() > 32 {
            break;
        }
    }
    encl.reverse();
    Ok(encl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_nest_under_classes_and_parent_links_suffice() {
        let code = "class A:\n    def f(self):\n        return 1\n";
        // the method's parent is the class, but the class lists no children (dropped wrapper)
        let json = r#"{"ast":{"nodes":[
            {"id":0,"type":"class_definition","parent":null,"children":[],"start_point":{"row":0,"column":0},"end_point":{"row":2,"column":16}},
            {"id":1,"type":"identifier","parent":0,"children":[],"start_point":{"row":0,"column":6},"end_point":{"row":0,"column":7}},
            {"id":2,"type":"function_definition","parent":0,"children":[],"start_point":{"row":1,"column":4},"end_point":{"row":2,"column":16}},
            {"id":3,"type":"identifier","parent":2,"children":[],"start_point":{"row":1,"column":8},"end_point":{"row":1,"column":9}}]},
            "cross_language_map":{"function_declarations":[{"node_id":2,"universal_type":"function","name":"unknown"}]},
            "metadata":{"source_hash":"abc"}}"#;
        let f = extract("python", code, json, 10).unwrap();
        assert_eq!(f.sha256.as_deref(), Some("abc"));
        assert_eq!(f.chunks.len(), 2);
        let m = &f.chunks[1];
        assert_eq!(
            (m.kind.as_str(), m.name.as_str(), m.qualified_name.as_str()),
            ("method", "f", "A.f")
        );
        assert_eq!(m.ast_label, "python/declarations/classes/methods");
        assert_eq!(m.text, "def f(self):\n        return 1");
        assert_eq!((m.start_line, m.end_line), (2, 3));
        assert!(extract("python", code, "{not json", 10).is_err());
    }

    /// Defect: parent links forming a cycle through non-definition nodes made COPY loop
    /// forever while holding the writer locks.
    #[test]
    fn mlcpd_parent_cycle_is_rejected() {
        let code = "def f():\n    return 1\n";
        let json = r#"{"ast":{"nodes":[
            {"id":0,"type":"block","parent":1,"children":[],"start_point":{"row":0,"column":0},"end_point":{"row":1,"column":12}},
            {"id":1,"type":"block","parent":0,"children":[],"start_point":{"row":0,"column":0},"end_point":{"row":1,"column":12}},
            {"id":2,"type":"function_definition","parent":0,"children":[],"start_point":{"row":0,"column":0},"end_point":{"row":1,"column":12}}]}}"#;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || drop(tx.send(extract("python", code, json, 1))));
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("extract must not loop on a parent cycle");
        let err = got.expect_err("a cycle is an error");
        assert!(err.contains("cycle"), "{err}");
    }
}

//! Checking a session's inputs and outputs against the declared [`ModelKind`], and recording
//! which names to feed and read.

use ort::session::Session;
use ort::value::{Outlet, TensorElementType};

use super::{ModelDef, ModelError, ModelKind};

/// The text inputs a tokenizer can fill.
pub(crate) const INPUT_IDS: &str = "input_ids";
pub(crate) const ATTENTION_MASK: &str = "attention_mask";
pub(crate) const TOKEN_TYPE_IDS: &str = "token_type_ids";

/// How to run a text model (embedding or cross-encoder).
#[derive(Clone, Debug)]
pub(crate) struct TextSig {
    /// Whether the model takes `attention_mask`.
    pub mask: bool,
    /// Whether the model takes `token_type_ids`.
    pub types: bool,
    /// The output to read.
    pub output: String,
    /// Embedding output already pooled (`[batch, hidden]`) rather than per token.
    pub pooled: bool,
    /// Static embedding dimension, if the model declares it.
    pub dim: Option<usize>,
}

/// How to run a vector scorer.
#[derive(Clone, Debug)]
pub(crate) struct VectorSig {
    /// Name of the first input (the query vectors).
    pub query: String,
    /// Name of the second input (the row vectors).
    pub rows: String,
    /// The output to read.
    pub output: String,
    /// Static vector dimension, if the model declares it.
    pub dim: Option<usize>,
}

/// A validated model signature.
#[derive(Clone, Debug)]
pub(crate) enum Signature {
    /// Embedding or cross-encoder.
    Text(TextSig),
    /// Vector scorer.
    Vector(VectorSig),
}

/// A tensor input/output: name, element type, dims (`-1` = dynamic).
struct Port<'a> {
    name: &'a str,
    ty: TensorElementType,
    dims: &'a [i64],
}

fn port(o: &Outlet) -> Option<Port<'_>> {
    let ty = o.dtype().tensor_type()?;
    let dims = o.dtype().tensor_shape().map(|s| &**s)?;
    Some(Port {
        name: o.name(),
        ty,
        dims,
    })
}

fn show(o: &Outlet) -> String {
    match port(o) {
        Some(p) => {
            let dims: Vec<String> = p
                .dims
                .iter()
                .map(|&d| {
                    if d < 0 {
                        "?".to_string()
                    } else {
                        d.to_string()
                    }
                })
                .collect();
            format!("{} {}[{}]", p.name, p.ty, dims.join(", "))
        }
        None => format!("{} (not a tensor)", o.name()),
    }
}

/// The session's inputs and outputs, for error messages.
pub(crate) fn describe(session: &Session) -> String {
    let inputs: Vec<String> = session.inputs().iter().map(show).collect();
    let outputs: Vec<String> = session.outputs().iter().map(show).collect();
    format!(
        "inputs ({}) and outputs ({})",
        inputs.join(", "),
        outputs.join(", ")
    )
}

/// Validates `session` against `def.kind`.
pub(crate) fn validate(def: &ModelDef, session: &Session) -> Result<Signature, ModelError> {
    let fail = |expected: String| ModelError::Signature {
        model: def.name.clone(),
        kind: def.kind.to_string(),
        expected,
        found: describe(session),
    };
    match def.kind {
        ModelKind::Embedding | ModelKind::CrossEncoder => {
            text(def, session).map(Signature::Text).map_err(fail)
        }
        ModelKind::VectorScorer => vector(def, session).map(Signature::Vector).map_err(fail),
    }
}

/// Checks text inputs and picks the output; `Err` holds what was expected.
fn text(def: &ModelDef, session: &Session) -> Result<TextSig, String> {
    let (mask, types) = text_inputs(session)?;
    let (output, pooled, dim) = match def.kind {
        ModelKind::Embedding => embedding_output(def, session)?,
        _ => (score_output(def, session, "logits")?, true, None),
    };
    Ok(TextSig {
        mask,
        types,
        output,
        pooled,
        dim,
    })
}

/// Checks that the inputs are `input_ids` (+ `attention_mask`, `token_type_ids`), int64 `[batch, seq]`.
fn text_inputs(session: &Session) -> Result<(bool, bool), String> {
    let want = format!(
        "inputs {INPUT_IDS} (required), {ATTENTION_MASK} and {TOKEN_TYPE_IDS} (optional), all int64 [batch, seq]"
    );
    let (mut ids, mut mask, mut types) = (false, false, false);
    for o in session.inputs() {
        let p = port(o).ok_or_else(|| want.clone())?;
        if p.ty != TensorElementType::Int64 || p.dims.len() != 2 {
            return Err(format!("{want}, but {} is not int64 [batch, seq]", p.name));
        }
        match p.name {
            INPUT_IDS => ids = true,
            ATTENTION_MASK => mask = true,
            TOKEN_TYPE_IDS => types = true,
            other => {
                return Err(format!(
                    "{want}, and no other input (a tokenizer cannot fill {other})"
                ))
            }
        }
    }
    if !ids {
        return Err(want);
    }
    Ok((mask, types))
}

/// The float32 tensor output named `name`, or the first float32 output.
fn float_output<'s>(
    session: &'s Session,
    name: Option<&str>,
    want: &str,
) -> Result<Port<'s>, String> {
    let mut ports = session.outputs().iter().filter_map(port);
    let found = match name {
        Some(n) => ports
            .find(|p| p.name == n)
            .ok_or_else(|| format!("an output named {n} ({want})"))?,
        None => ports
            .find(|p| p.ty == TensorElementType::Float32)
            .ok_or_else(|| want.to_string())?,
    };
    if found.ty != TensorElementType::Float32 || found.name.is_empty() {
        return Err(format!("{want}, but {} is {}", found.name, found.ty));
    }
    Ok(found)
}

/// Picks the embedding output: `OUTPUT`, else `sentence_embedding` (pooled), else the first
/// rank-3 float output (token embeddings), else the first rank-2 float output.
fn embedding_output(
    def: &ModelDef,
    session: &Session,
) -> Result<(String, bool, Option<usize>), String> {
    let want = "a float32 output [batch, seq, hidden] (token embeddings, e.g. last_hidden_state) \
                or [batch, hidden] (pooled, e.g. sentence_embedding)";
    let chosen = match def.output.as_deref() {
        Some(n) => float_output(session, Some(n), want)?,
        None => {
            let floats = || {
                session
                    .outputs()
                    .iter()
                    .filter_map(port)
                    .filter(|p| p.ty == TensorElementType::Float32)
            };
            floats()
                .find(|p| p.name == "sentence_embedding" && p.dims.len() == 2)
                .or_else(|| floats().find(|p| p.dims.len() == 3))
                .or_else(|| floats().find(|p| p.dims.len() == 2))
                .ok_or_else(|| want.to_string())?
        }
    };
    if !(chosen.dims.len() == 2 || chosen.dims.len() == 3) || chosen.name.is_empty() {
        return Err(format!(
            "{want}, but {} has rank {}",
            chosen.name,
            chosen.dims.len()
        ));
    }
    let dim = chosen
        .dims
        .last()
        .and_then(|&d| usize::try_from(d).ok())
        .filter(|&d| d > 0);
    Ok((chosen.name.to_string(), chosen.dims.len() == 2, dim))
}

/// Picks a score output (`OUTPUT`, else `preferred`, else the first float output) and checks
/// it is `[batch]` or `[batch, 1]`.
fn score_output(def: &ModelDef, session: &Session, preferred: &str) -> Result<String, String> {
    let want = "one float32 score per row: an output [batch] or [batch, 1]";
    let has_preferred = session.outputs().iter().any(|o| o.name() == preferred);
    let name = def
        .output
        .as_deref()
        .or(if has_preferred { Some(preferred) } else { None });
    let p = float_output(session, name, want)?;
    let ok = match p.dims {
        [_] => true,
        [_, last] => *last == 1 || *last < 0,
        _ => false,
    };
    if !ok {
        return Err(format!("{want}, but {} is {:?}", p.name, p.dims));
    }
    Ok(p.name.to_string())
}

/// Checks a vector scorer: two float32 `[batch, dim]` inputs (query, rows) and a score output.
fn vector(def: &ModelDef, session: &Session) -> Result<VectorSig, String> {
    let want = "two float32 inputs [batch, dim] (first = query vectors, second = row vectors)";
    let ports: Vec<Port<'_>> = session.inputs().iter().filter_map(port).collect();
    let [q, r] = ports.as_slice() else {
        return Err(want.to_string());
    };
    if session.inputs().len() != 2 {
        return Err(want.to_string());
    }
    for p in [q, r] {
        if p.ty != TensorElementType::Float32 || p.dims.len() != 2 {
            return Err(format!(
                "{want}, but {} is not float32 [batch, dim]",
                p.name
            ));
        }
    }
    let (dq, dr) = (q.dims[1], r.dims[1]);
    if dq > 0 && dr > 0 && dq != dr {
        return Err(format!(
            "{want} of the same dim, but they are {dq} and {dr}"
        ));
    }
    let dim = usize::try_from(dq.max(dr)).ok().filter(|&d| d > 0);
    let output = score_output(def, session, "score")?;
    Ok(VectorSig {
        query: q.name.to_string(),
        rows: r.name.to_string(),
        output,
        dim,
    })
}

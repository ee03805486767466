//! Model definitions as the catalog stores them: what `CREATE MODEL` declared.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Default `MAX_TOKENS` (sentence-transformers' `max_seq_length` of all-MiniLM-L6-v2).
pub const DEFAULT_MAX_TOKENS: usize = 256;
/// Smallest allowed `MAX_TOKENS`: room for the special tokens of a pair plus some text.
pub const MIN_MAX_TOKENS: usize = 8;
/// Largest allowed `MAX_TOKENS`.
pub const MAX_MAX_TOKENS: usize = 65_536;

/// What a model computes, which fixes the inputs and outputs it must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Text to a vector: `input_ids` (+ `attention_mask`, `token_type_ids`) to token
    /// embeddings `[batch, seq, hidden]` (pooled here) or a pooled `[batch, hidden]`.
    Embedding,
    /// A (query, document) text pair to a relevance score: `[batch, 1]` or `[batch]` logits.
    CrossEncoder,
    /// A (query vector, row vector) pair to a score: inputs `[batch, dim]` twice, output `[batch]`.
    VectorScorer,
}

impl ModelKind {
    /// The SQL spelling: `embedding`, `cross_encoder` or `vector_scorer`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Embedding => "embedding",
            ModelKind::CrossEncoder => "cross_encoder",
            ModelKind::VectorScorer => "vector_scorer",
        }
    }

    /// Whether the model reads text (and so needs a tokenizer).
    pub fn is_text(self) -> bool {
        !matches!(self, ModelKind::VectorScorer)
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = ModelError;

    /// Parses `embedding`, `cross_encoder` or `vector_scorer` (case-insensitive; `-` works as `_`).
    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "embedding" => Ok(ModelKind::Embedding),
            "cross_encoder" => Ok(ModelKind::CrossEncoder),
            "vector_scorer" => Ok(ModelKind::VectorScorer),
            _ => Err(ModelError::option(
                "KIND",
                s,
                "expected 'embedding', 'cross_encoder' or 'vector_scorer'",
            )),
        }
    }
}

/// How token embeddings become one vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean over the tokens the attention mask keeps (sentence-transformers' default).
    #[default]
    Mean,
    /// The first token (`[CLS]`).
    Cls,
}

impl Pooling {
    /// The SQL spelling: `mean` or `cls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pooling {
    type Err = ModelError;

    /// Parses `mean` or `cls` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            _ => Err(ModelError::option("POOLING", s, "expected 'mean' or 'cls'")),
        }
    }
}

fn default_max_tokens() -> usize {
    DEFAULT_MAX_TOKENS
}

fn default_true() -> bool {
    true
}

/// A declared model: `CREATE MODEL name FROM 'path' (options)`, as stored in the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelDef {
    /// The model's name in SQL (`embed('name', ...)`).
    pub name: String,
    /// Path of the `.onnx` file.
    pub path: String,
    /// Path of the Hugging Face `tokenizer.json` (text kinds only).
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// What the model computes.
    pub kind: ModelKind,
    /// Truncation length in tokens, special tokens included.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Pooling of token embeddings (embedding models with a `[batch, seq, hidden]` output).
    #[serde(default)]
    pub pooling: Pooling,
    /// L2-normalize embeddings (embedding models).
    #[serde(default = "default_true")]
    pub normalize: bool,
    /// The output to read, when the model has several; chosen automatically if `None`.
    #[serde(default)]
    pub output: Option<String>,
    /// Embedding (or vector scorer input) dimension, filled when the model is validated.
    #[serde(default)]
    pub dim: Option<usize>,
}

/// The options `CREATE MODEL` accepts.
pub const MODEL_OPTIONS: [&str; 6] = [
    "TOKENIZER",
    "KIND",
    "MAX_TOKENS",
    "POOLING",
    "NORMALIZE",
    "OUTPUT",
];

impl ModelDef {
    /// A definition with default options.
    pub fn new(name: impl Into<String>, path: impl Into<String>, kind: ModelKind) -> Self {
        ModelDef {
            name: name.into(),
            path: path.into(),
            tokenizer: None,
            kind,
            max_tokens: DEFAULT_MAX_TOKENS,
            pooling: Pooling::Mean,
            normalize: true,
            output: None,
            dim: None,
        }
    }

    /// Sets the tokenizer path.
    pub fn with_tokenizer(mut self, tokenizer: impl Into<String>) -> Self {
        self.tokenizer = Some(tokenizer.into());
        self
    }

    /// Builds a definition from `CREATE MODEL` options (`(KEY, value)` pairs, keys case-insensitive):
    /// `TOKENIZER`, `KIND` (default `embedding`), `MAX_TOKENS`, `POOLING`, `NORMALIZE`, `OUTPUT`.
    /// Unknown, repeated or inapplicable options are errors.
    pub fn from_options(
        name: &str,
        path: &str,
        options: &[(String, String)],
    ) -> Result<ModelDef, ModelError> {
        check_keys(options)?;
        let kind = match find(options, "KIND") {
            Some(v) => v.parse()?,
            None => ModelKind::Embedding,
        };
        let mut def = ModelDef::new(name, path, kind);
        for (key, value) in options {
            apply_option(&mut def, &key.trim().to_ascii_uppercase(), value)?;
        }
        def.validate()?;
        Ok(def)
    }

    /// Checks the values that do not need the files: non-empty name and path, `MAX_TOKENS` in
    /// range, a tokenizer for text kinds, a non-empty `OUTPUT`.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.name.trim().is_empty() {
            return Err(ModelError::option(
                "name",
                &self.name,
                "a model needs a non-empty name",
            ));
        }
        if self.path.trim().is_empty() {
            return Err(ModelError::option(
                "FROM",
                &self.path,
                "a model needs the path of its .onnx file",
            ));
        }
        if !(MIN_MAX_TOKENS..=MAX_MAX_TOKENS).contains(&self.max_tokens) {
            let reason = format!("expected an integer from {MIN_MAX_TOKENS} to {MAX_MAX_TOKENS}");
            return Err(ModelError::option(
                "MAX_TOKENS",
                &self.max_tokens.to_string(),
                reason,
            ));
        }
        if let Some(out) = &self.output {
            if out.is_empty() {
                return Err(ModelError::option(
                    "OUTPUT",
                    out,
                    "expected the name of one of the model's outputs",
                ));
            }
        }
        if self.kind.is_text()
            && self
                .tokenizer
                .as_deref()
                .is_none_or(|t| t.trim().is_empty())
        {
            return Err(ModelError::TokenizerRequired {
                model: self.name.clone(),
                kind: self.kind.to_string(),
            });
        }
        Ok(())
    }
}

/// Rejects unknown and repeated keys.
fn check_keys(options: &[(String, String)]) -> Result<(), ModelError> {
    let mut seen: Vec<String> = Vec::with_capacity(options.len());
    for (key, value) in options {
        let k = key.trim().to_ascii_uppercase();
        if !MODEL_OPTIONS.contains(&k.as_str()) {
            let reason = format!(
                "unknown option; CREATE MODEL accepts {}",
                MODEL_OPTIONS.join(", ")
            );
            return Err(ModelError::option(key, value, reason));
        }
        if seen.contains(&k) {
            return Err(ModelError::option(
                key,
                value,
                "the option is given more than once",
            ));
        }
        seen.push(k);
    }
    Ok(())
}

/// The value of option `key` (already checked to be unique).
fn find<'a>(options: &'a [(String, String)], key: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// Applies one (known, upper-cased) option to `def`, whose kind is already set.
fn apply_option(def: &mut ModelDef, key: &str, value: &str) -> Result<(), ModelError> {
    let text_only = |def: &ModelDef| -> Result<(), ModelError> {
        if def.kind.is_text() {
            Ok(())
        } else {
            Err(ModelError::option(
                key,
                value,
                format!("does not apply to KIND '{}'", def.kind),
            ))
        }
    };
    let embedding_only = |def: &ModelDef| -> Result<(), ModelError> {
        if def.kind == ModelKind::Embedding {
            Ok(())
        } else {
            Err(ModelError::option(
                key,
                value,
                format!("applies to KIND 'embedding' only, not '{}'", def.kind),
            ))
        }
    };
    match key {
        "KIND" => {}
        "TOKENIZER" => {
            text_only(&*def)?;
            def.tokenizer = Some(value.to_string());
        }
        "MAX_TOKENS" => {
            text_only(&*def)?;
            def.max_tokens = parse_max_tokens(value)?;
        }
        "POOLING" => {
            embedding_only(&*def)?;
            def.pooling = value.parse()?;
        }
        "NORMALIZE" => {
            embedding_only(&*def)?;
            def.normalize = parse_bool("NORMALIZE", value)?;
        }
        "OUTPUT" => def.output = Some(value.to_string()),
        _ => return Err(ModelError::option(key, value, "unknown option")),
    }
    Ok(())
}

fn parse_max_tokens(value: &str) -> Result<usize, ModelError> {
    let reason = || format!("expected an integer from {MIN_MAX_TOKENS} to {MAX_MAX_TOKENS}");
    match value.trim().parse::<usize>() {
        Ok(n) if (MIN_MAX_TOKENS..=MAX_MAX_TOKENS).contains(&n) => Ok(n),
        _ => Err(ModelError::option("MAX_TOKENS", value, reason())),
    }
}

fn parse_bool(option: &str, value: &str) -> Result<bool, ModelError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(ModelError::option(option, value, "expected true or false")),
    }
}

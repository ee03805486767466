//! ONNX models at query time: embedding models (text to vector), cross-encoders (rescoring
//! `(query, row text)` pairs) and vector scorers (rescoring `(query vector, row vector)` pairs).
//!
//! A model is declared with
//! `CREATE MODEL name FROM 'model.onnx' (TOKENIZER 'tokenizer.json', KIND 'embedding')`,
//! stored in the catalog as a [`ModelDef`] and loaded on first use into a [`Model`], which a
//! [`ModelRegistry`] caches by name. Loading validates the model's inputs and outputs against
//! its [`ModelKind`]; running follows the sentence-transformers pipeline (tokenize, sort by
//! length, batch, pad per batch, run, masked mean pooling, L2 normalization).
//!
//! ONNX Runtime is a shared library loaded at run time (see [`init_runtime`] for where it is
//! looked for). It is loaded lazily, on the first model use, so a database without models
//! works when the library is missing. [`ModelKind`], [`ModelDef`], [`ModelError`] and the
//! registry exist without the `onnx` feature; the model operations then return
//! [`ModelError::Disabled`].
//!
//! See `docs/models.md`.

mod def;
#[cfg(test)]
mod def_tests;
mod registry;

#[cfg(feature = "onnx")]
mod loaded;
#[cfg(feature = "onnx")]
mod pool;
#[cfg(feature = "onnx")]
mod runtime;
#[cfg(feature = "onnx")]
mod signature;
#[cfg(feature = "onnx")]
mod text;

#[cfg(not(feature = "onnx"))]
mod disabled;

pub use crate::error::model::{ModelError, RUNTIME_HINT};
pub use def::{
    ModelDef, ModelKind, Pooling, DEFAULT_MAX_TOKENS, MAX_MAX_TOKENS, MIN_MAX_TOKENS, MODEL_OPTIONS,
};
pub use registry::ModelRegistry;

#[cfg(not(feature = "onnx"))]
pub use disabled::{find_runtime, init_runtime, runtime_path, set_runtime_path, Model};
#[cfg(feature = "onnx")]
pub use loaded::Model;
#[cfg(feature = "onnx")]
pub use runtime::{find_runtime, init_runtime, runtime_path, set_runtime_path, ORT_DYLIB_ENV};

/// How models are run (not part of their definition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Intra-op threads per session (default: available parallelism).
    pub intra_threads: usize,
    /// Sessions opened at most, for concurrent callers (default 1). Each extra session holds
    /// its own copy of the weights and its own thread pool; with one session, concurrent
    /// callers take turns.
    pub max_sessions: usize,
    /// Texts per inference batch (default 4: with int8 weights on CPU, measured here, batches
    /// of 1 to 8 embed ~1.7x more texts per second than sentence-transformers' 32, since longer
    /// batches pay for padding and larger activations; see docs/benchmarks.md).
    pub batch_size: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            intra_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_sessions: 1,
            batch_size: 4,
        }
    }
}

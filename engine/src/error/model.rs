//! The typed errors of the model layer. They hold strings only (no ONNX Runtime values), so
//! they are `Clone + PartialEq` and exist whether or not the `onnx` feature is enabled.

/// How to get an ONNX Runtime library, appended to every runtime error.
pub const RUNTIME_HINT: &str =
    "install the `onnxruntime` Python wheel (`pip install onnxruntime`, version >= 1.31) \
into a `.venv` next to the database or the executable, or set ORT_DYLIB_PATH to \
.../site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0";

/// Errors of loading and running ONNX models.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// No ONNX Runtime shared library was found.
    #[error("ONNX Runtime library not found (searched {searched}); {hint}", hint = RUNTIME_HINT)]
    RuntimeNotFound {
        /// Where the library was looked for.
        searched: String,
    },
    /// The ONNX Runtime library exists but could not be loaded or is too old.
    #[error("cannot load ONNX Runtime from {path} (from {origin}): {reason}; {hint}", hint = RUNTIME_HINT)]
    RuntimeLoad {
        /// The library path tried.
        path: String,
        /// Where the path came from (`ORT_DYLIB_PATH`, `set_runtime_path`, a `.venv` search).
        origin: String,
        /// Why loading failed.
        reason: String,
    },
    /// The model file is missing or unreadable.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// The model path.
        path: String,
        /// Why it cannot be read.
        reason: String,
    },
    /// ONNX Runtime rejected the file: not an ONNX model, corrupt, or an unsupported opset.
    #[error("{path} is not a loadable ONNX model: {reason}")]
    NotOnnx {
        /// The model path.
        path: String,
        /// ONNX Runtime's message.
        reason: String,
    },
    /// A text model was declared without a tokenizer.
    #[error("model \"{model}\" of kind {kind} needs a tokenizer: add TOKENIZER 'path/to/tokenizer.json'")]
    TokenizerRequired {
        /// The model name.
        model: String,
        /// Its kind.
        kind: String,
    },
    /// The tokenizer file is missing, unreadable or not a Hugging Face `tokenizer.json`.
    #[error("tokenizer {path}: {reason}")]
    Tokenizer {
        /// The tokenizer path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The model's inputs or outputs do not fit the declared kind.
    #[error(
        "model \"{model}\" does not fit KIND '{kind}': expected {expected}; the model has {found}"
    )]
    Signature {
        /// The model name.
        model: String,
        /// The declared kind.
        kind: String,
        /// What the kind needs.
        expected: String,
        /// The model's actual inputs and outputs.
        found: String,
    },
    /// Tokenization or inference failed at run time.
    #[error("inference with model \"{model}\" failed: {reason}")]
    Inference {
        /// The model name.
        model: String,
        /// What failed.
        reason: String,
    },
    /// A call passed arguments the model cannot take (e.g. a vector of the wrong length).
    #[error("invalid input for model \"{model}\": {reason}")]
    Input {
        /// The model name.
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// The operation does not apply to the model's kind (e.g. `embed` on a cross-encoder).
    #[error("model \"{model}\" is a {kind} model and cannot {operation}")]
    WrongKind {
        /// The model name.
        model: String,
        /// Its kind.
        kind: String,
        /// The operation asked for.
        operation: String,
    },
    /// A model of that name already exists.
    #[error("model \"{name}\" already exists (DROP MODEL {name} first)")]
    Exists {
        /// The name.
        name: String,
    },
    /// No model of that name exists.
    #[error("unknown model \"{name}\"")]
    UnknownModel {
        /// The name asked for.
        name: String,
    },
    /// A `CREATE MODEL` option is unknown or has an invalid value.
    #[error("invalid model option {option} = '{value}': {reason}")]
    Option {
        /// The option name.
        option: String,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// nestdb was built without the `onnx` feature.
    #[error("nestdb was built without the `onnx` feature, so ONNX models cannot run; rebuild with `--features onnx`")]
    Disabled,
}

impl ModelError {
    /// An [`ModelError::Option`] error.
    pub(crate) fn option(option: &str, value: &str, reason: impl Into<String>) -> Self {
        ModelError::Option {
            option: option.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Whether this error means the ONNX Runtime library is unavailable.
    pub fn is_runtime(&self) -> bool {
        matches!(
            self,
            ModelError::RuntimeNotFound { .. }
                | ModelError::RuntimeLoad { .. }
                | ModelError::Disabled
        )
    }
}

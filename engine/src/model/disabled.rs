//! Stand-ins for builds without the `onnx` feature: the same API, every model operation
//! returning [`ModelError::Disabled`], so the catalog and the SQL layer need no `cfg`.

use std::path::{Path, PathBuf};

use super::{LoadOptions, ModelDef, ModelError, ModelKind};

/// A loaded model; never constructed without the `onnx` feature.
#[derive(Debug)]
pub struct Model {
    def: ModelDef,
}

impl Model {
    /// Always [`ModelError::Disabled`] (after validating the definition).
    pub fn load(def: &ModelDef) -> Result<Model, ModelError> {
        Model::load_with(def, &LoadOptions::default())
    }

    /// Always [`ModelError::Disabled`] (after validating the definition).
    pub fn load_with(def: &ModelDef, _opts: &LoadOptions) -> Result<Model, ModelError> {
        def.validate()?;
        Err(ModelError::Disabled)
    }

    /// The definition.
    pub fn def(&self) -> &ModelDef {
        &self.def
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The model's kind.
    pub fn kind(&self) -> ModelKind {
        self.def.kind
    }

    /// The recorded dimension.
    pub fn dim(&self) -> Option<usize> {
        self.def.dim
    }

    /// Empty: nothing is known about the model's inputs and outputs.
    pub fn io(&self) -> &str {
        ""
    }

    /// Always [`ModelError::Disabled`].
    pub fn embed(&self, _texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        Err(ModelError::Disabled)
    }

    /// Always [`ModelError::Disabled`].
    pub fn cross_score(&self, _query: &str, _docs: &[&str]) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::Disabled)
    }

    /// Always [`ModelError::Disabled`].
    pub fn vector_score(&self, _query: &[f32], _rows: &[&[f32]]) -> Result<Vec<f32>, ModelError> {
        Err(ModelError::Disabled)
    }
}

/// Ignored without the `onnx` feature.
pub fn set_runtime_path(_path: Option<PathBuf>) {}

/// Always `None` without the `onnx` feature.
pub fn runtime_path() -> Option<&'static Path> {
    None
}

/// Always [`ModelError::Disabled`].
pub fn init_runtime() -> Result<&'static Path, ModelError> {
    Err(ModelError::Disabled)
}

/// Always [`ModelError::Disabled`].
pub fn find_runtime() -> Result<(PathBuf, String), ModelError> {
    Err(ModelError::Disabled)
}

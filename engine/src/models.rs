//! Models as catalog objects of a database: CREATE MODEL / DROP MODEL / SHOW MODELS, and
//! embedding text with them.

use std::sync::Arc;

use crate::error::Result;
use crate::model::{Model, ModelDef, ModelError, ModelKind};
use crate::Database;

impl Database {
    /// Declares model `name` (validated now: the file loads and its inputs and outputs fit
    /// its kind). Relative paths are resolved against the current directory.
    pub fn create_model(
        &self,
        name: &str,
        path: &str,
        options: &[(String, String)],
    ) -> Result<ModelDef> {
        if !nestdb_storage::valid_name(name) {
            return Err(crate::Error::Catalog(crate::CatalogError::InvalidName(
                name.into(),
            )));
        }
        if self.inner.store.get_model(name)?.is_some() {
            return Err(ModelError::Exists { name: name.into() }.into());
        }
        // Absolute and without `..`, so the catalog entry works from any directory.
        let abs = |p: &str| -> String {
            std::fs::canonicalize(p)
                .or_else(|_| std::path::absolute(p))
                .map_or_else(|_| p.to_string(), |a| a.to_string_lossy().into_owned())
        };
        let mut opts = options.to_vec();
        for (k, v) in &mut opts {
            if k.eq_ignore_ascii_case("TOKENIZER") {
                *v = abs(v);
            }
        }
        let def = ModelDef::from_options(name, &abs(path), &opts)?;
        self.inner.models.evict(name);
        let loaded = self.inner.models.get_or_load(&def)?;
        let def = loaded.def().clone();
        let json = serde_json::to_value(&def).map_err(|e| nestdb_storage::StorageError::Json {
            key: format!("model {name}"),
            source: e,
        })?;
        self.inner.store.put_model(name, &json)?;
        Ok(def)
    }

    /// Removes model `name`; with `if_exists`, a missing model is not an error. Returns whether
    /// it existed.
    pub fn drop_model(&self, name: &str, if_exists: bool) -> Result<bool> {
        let existed = self.inner.store.drop_model(name)?;
        self.inner.models.evict(name);
        if !existed && !if_exists {
            return Err(ModelError::UnknownModel { name: name.into() }.into());
        }
        Ok(existed)
    }

    /// Every model definition, by name.
    pub fn list_models(&self) -> Result<Vec<ModelDef>> {
        self.inner
            .store
            .list_models()?
            .into_iter()
            .map(|v| {
                serde_json::from_value(v).map_err(|e| {
                    nestdb_storage::StorageError::Json {
                        key: "model definition".into(),
                        source: e,
                    }
                    .into()
                })
            })
            .collect()
    }

    /// Model `name`, loaded on first use.
    pub fn model(&self, name: &str) -> Result<Arc<Model>> {
        let def: ModelDef = match self.inner.store.get_model(name)? {
            Some(v) => {
                serde_json::from_value(v).map_err(|e| nestdb_storage::StorageError::Json {
                    key: format!("model {name}"),
                    source: e,
                })?
            }
            None => return Err(ModelError::UnknownModel { name: name.into() }.into()),
        };
        Ok(self.inner.models.get_or_load(&def)?)
    }

    fn embedding_model(&self, name: &str) -> Result<Arc<Model>> {
        let m = self.model(name)?;
        if m.kind() != ModelKind::Embedding {
            return Err(ModelError::WrongKind {
                model: name.into(),
                kind: m.kind().as_str().into(),
                operation: "embed text".into(),
            }
            .into());
        }
        Ok(m)
    }

    /// Embeds one text with embedding model `model`.
    pub fn embed(&self, model: &str, text: &str) -> Result<Vec<f32>> {
        let mut v = self.embed_many(model, &[text])?;
        Ok(v.pop().unwrap_or_default())
    }

    /// Embeds many texts (batched; the model runs its own threads).
    pub fn embed_many(&self, model: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.embedding_model(model)?.embed(texts)?)
    }

    /// The dimension of embedding model `model`'s vectors.
    pub fn model_dim(&self, model: &str) -> Result<usize> {
        let m = self.embedding_model(model)?;
        match m.dim() {
            Some(d) => Ok(d),
            None => Ok(m.embed(&["dimension probe"])?.first().map_or(0, Vec::len)),
        }
    }
}

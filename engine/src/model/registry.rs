//! A thread-safe cache of loaded models by name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{LoadOptions, Model, ModelDef, ModelError};

/// Loaded models by name. Loading happens outside the lock, so a slow load does not block
/// lookups of other models; two threads loading the same model at once both load it and the
/// first one stored wins.
#[derive(Debug, Default)]
pub struct ModelRegistry {
    models: Mutex<HashMap<String, Arc<Model>>>,
    options: LoadOptions,
}

impl ModelRegistry {
    /// An empty registry loading models with default [`LoadOptions`].
    pub fn new() -> Self {
        ModelRegistry::default()
    }

    /// An empty registry loading models with `options`.
    pub fn with_options(options: LoadOptions) -> Self {
        ModelRegistry {
            models: Mutex::default(),
            options,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Model>>> {
        self.models.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The model `def.name`, loading it if it is not cached or was cached from a different
    /// definition (e.g. after `DROP MODEL` and `CREATE MODEL` with a new file).
    pub fn get_or_load(&self, def: &ModelDef) -> Result<Arc<Model>, ModelError> {
        if let Some(m) = self.get(&def.name).filter(|m| same_def(m.def(), def)) {
            return Ok(m);
        }
        let loaded = Arc::new(Model::load_with(def, &self.options)?);
        let mut models = self.lock();
        if let Some(m) = models.get(&def.name).filter(|m| same_def(m.def(), def)) {
            return Ok(Arc::clone(m));
        }
        models.insert(def.name.clone(), Arc::clone(&loaded));
        Ok(loaded)
    }

    /// The cached model `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<Arc<Model>> {
        self.lock().get(name).cloned()
    }

    /// The cached model `name`, or [`ModelError::UnknownModel`].
    pub fn require(&self, name: &str) -> Result<Arc<Model>, ModelError> {
        self.get(name).ok_or_else(|| ModelError::UnknownModel {
            name: name.to_string(),
        })
    }

    /// Drops the cached model `name` (running queries keep their `Arc`); whether it was cached.
    pub fn evict(&self, name: &str) -> bool {
        self.lock().remove(name).is_some()
    }

    /// Drops every cached model.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Names of the cached models, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }
}

/// Whether a cached model's (validated) definition matches `def`; a `def` without a recorded
/// dimension matches any.
fn same_def(cached: &ModelDef, def: &ModelDef) -> bool {
    let mut c = cached.clone();
    if def.dim.is_none() {
        c.dim = None;
    }
    c == *def
}

//! The models loaded for generation, kept between answers: each base model
//! once, each adapter as a view on its base (the base weights are shared, not
//! copied), so a chat and a comparison of base vs tuned hold one base.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::Loaded;
use crate::error::Result;

/// A base model and chat template, or that plus an adapter.
type Key = (PathBuf, Option<PathBuf>, String);

/// Loaded models by directory, adapter and chat template.
#[derive(Debug, Default)]
pub struct Models {
    loaded: Mutex<HashMap<Key, Arc<Loaded>>>,
}

impl Models {
    /// No models loaded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The model in `model` with `adapter` applied (unmerged) and the chat
    /// template `chat_template`, loaded on first use. Loading holds the lock,
    /// so two jobs asking for one model at once load it once.
    pub fn get(&self, model: &Path, adapter: Option<&Path>, chat_template: &str) -> Result<Arc<Loaded>> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let key = (model.to_path_buf(), adapter.map(Path::to_path_buf), chat_template.to_string());
        if let Some(l) = loaded.get(&key) {
            return Ok(Arc::clone(l));
        }
        let base_key = (key.0.clone(), None, key.2.clone());
        let base = match loaded.get(&base_key) {
            Some(b) => Arc::clone(b),
            None => {
                let b = Arc::new(Loaded::load(model, None, chat_template)?);
                loaded.insert(base_key, Arc::clone(&b));
                b
            }
        };
        let model = match adapter {
            Some(dir) => Arc::new(base.with_adapter(dir)?),
            None => base,
        };
        loaded.insert(key, Arc::clone(&model));
        Ok(model)
    }

    /// How many models (bases and adapters) are loaded.
    pub fn len(&self) -> usize {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

//! Finding and loading the ONNX Runtime shared library (ort's `load-dynamic`).
//!
//! Nothing here runs until a model is first used, so everything that does not need ONNX
//! keeps working when the library is missing. The library path comes from, in order:
//! 1. [`set_runtime_path`] (an explicit setting);
//! 2. the `ORT_DYLIB_PATH` environment variable;
//! 3. a search for `.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*`
//!    under the current directory, the executable's directory and their ancestors, then
//!    under `$VIRTUAL_ENV`, then `/usr/local/lib` and `/usr/lib`.
//!
//! ort panics if any of its APIs runs before a library was loaded, so this module is the only
//! door to ort: [`environment`] hands out the `Environment` only after `ort::init_from`
//! succeeded, and a failed attempt returns an error and can be retried (e.g. after
//! [`set_runtime_path`]). The discovery spawns no process.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use ort::environment::Environment;

use super::ModelError;

/// The loaded runtime: ort's environment and where the library came from.
struct Runtime {
    env: Environment,
    path: PathBuf,
}

/// Set once, after the library loaded and the environment was built.
static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// The explicit path setting; the lock also serializes initialization (ort allows one
/// environment per process).
static SETTING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The environment variable naming the library (ort's own convention).
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

#[cfg(target_os = "macos")]
const LIB_GLOB: &str = "libonnxruntime*.dylib";
#[cfg(not(target_os = "macos"))]
const LIB_GLOB: &str = "libonnxruntime.so*";

/// Sets (or with `None` clears) the library path to use, ahead of `ORT_DYLIB_PATH` and the
/// search. It takes effect at the next initialization attempt: once a library is loaded, the
/// process keeps it.
pub fn set_runtime_path(path: Option<PathBuf>) {
    *SETTING.lock().unwrap_or_else(PoisonError::into_inner) = path;
}

/// The path of the loaded library, or `None` while no model has needed it yet.
pub fn runtime_path() -> Option<&'static Path> {
    RUNTIME.get().map(|r| r.path.as_path())
}

/// Loads the ONNX Runtime library now (it is otherwise loaded on first model use) and returns
/// its path. Idempotent; after a failure it can be retried.
pub fn init_runtime() -> Result<&'static Path, ModelError> {
    runtime().map(|r| r.path.as_path())
}

/// The ort environment, loading the library on first use.
pub(crate) fn environment() -> Result<&'static Environment, ModelError> {
    runtime().map(|r| &r.env)
}

fn runtime() -> Result<&'static Runtime, ModelError> {
    if let Some(r) = RUNTIME.get() {
        return Ok(r);
    }
    let setting = SETTING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = RUNTIME.get() {
        return Ok(r);
    }
    let (path, origin) = locate(setting.as_deref())?;
    let env = load(&path, &origin)?;
    Ok(RUNTIME.get_or_init(move || Runtime { env, path }))
}

/// Where the library would be loaded from, without loading it: `(path, origin)`.
pub fn find_runtime() -> Result<(PathBuf, String), ModelError> {
    let setting = SETTING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    locate(setting.as_deref())
}

fn locate(setting: Option<&Path>) -> Result<(PathBuf, String), ModelError> {
    if let Some(p) = setting {
        return Ok((p.to_path_buf(), "set_runtime_path".to_string()));
    }
    if let Some(p) = std::env::var_os(ORT_DYLIB_ENV).filter(|v| !v.is_empty()) {
        return Ok((PathBuf::from(p), ORT_DYLIB_ENV.to_string()));
    }
    let bases = search_bases();
    for base in &bases {
        if let Some(found) = newest_match(base) {
            return Ok((found, format!("the search under {}", base.display())));
        }
    }
    Err(ModelError::RuntimeNotFound {
        searched: format!(
            "{ORT_DYLIB_ENV} (unset) and {}",
            bases
                .iter()
                .map(|b| b.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// The directories to search, as glob prefixes (each is searched for
/// `site-packages/onnxruntime/capi/libonnxruntime.so*`).
fn search_bases() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    let exe = std::env::current_exe().ok();
    if let Some(dir) = exe.as_deref().and_then(Path::parent) {
        roots.extend(dir.ancestors().map(Path::to_path_buf));
    }
    let mut bases: Vec<PathBuf> = Vec::new();
    for root in roots {
        let venv = root.join(".venv");
        if venv.is_dir() && !bases.contains(&venv) {
            bases.push(venv);
        }
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        let v = PathBuf::from(v);
        if !bases.contains(&v) {
            bases.push(v);
        }
    }
    bases.push(PathBuf::from("/usr/local"));
    bases.push(PathBuf::from("/usr"));
    bases
}

/// The newest library under one base: a virtualenv (`lib/python3*/site-packages/...`) or a
/// system prefix (`lib/libonnxruntime.so*`).
fn newest_match(base: &Path) -> Option<PathBuf> {
    let prefix = glob::Pattern::escape(base.to_str()?);
    let patterns = [
        format!("{prefix}/lib/python3*/site-packages/onnxruntime/capi/{LIB_GLOB}"),
        format!("{prefix}/lib/{LIB_GLOB}"),
    ];
    patterns.iter().find_map(|pattern| {
        let mut hits: Vec<PathBuf> = glob::glob(pattern)
            .ok()?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        hits.sort();
        hits.pop()
    })
}

/// Loads the library at `path` and builds the process's ort environment.
fn load(path: &Path, origin: &str) -> Result<Environment, ModelError> {
    let fail = |reason: String| ModelError::RuntimeLoad {
        path: path.display().to_string(),
        origin: origin.to_string(),
        reason,
    };
    // ort resolves a relative path through `current_exe().expect(..)`; hand it an absolute one.
    let abs =
        std::path::absolute(path).map_err(|e| fail(format!("cannot resolve the path: {e}")))?;
    if !abs.is_file() {
        return Err(fail("no such file".to_string()));
    }
    let builder = ort::init_from(&abs).map_err(|e| fail(e.to_string()))?;
    // Only now is ort usable: `build` and its error go through the loaded library.
    builder
        .with_name("nestdb")
        .with_telemetry(false)
        .build()
        .map_err(|e| fail(format!("cannot create the ONNX Runtime environment: {e}")))
}

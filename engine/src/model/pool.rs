//! A small pool of ONNX Runtime sessions of one model.
//!
//! `Session::run` takes `&mut self` (some ONNX Runtime internals are not thread-safe), so a
//! shared model hands each caller a session of its own for the duration of one run. Sessions
//! are created lazily up to a cap; callers beyond the cap wait for one to come back.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use super::{runtime, ModelError};

struct State {
    idle: Vec<Session>,
    created: usize,
}

/// Sessions of one model file.
pub(crate) struct SessionPool {
    path: PathBuf,
    threads: usize,
    max: usize,
    state: Mutex<State>,
    returned: Condvar,
}

/// Opens a session: `threads` intra-op threads (no spinning: the machine may be shared),
/// graph optimization level 3.
pub(crate) fn open_session(path: &Path, threads: usize) -> Result<Session, ModelError> {
    let env = runtime::environment()?;
    let shown = path.display().to_string();
    let not_onnx = |reason: String| ModelError::NotOnnx {
        path: shown.clone(),
        reason,
    };
    let mut builder = Session::builder(env)
        .map_err(|e| not_onnx(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| not_onnx(e.to_string()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| not_onnx(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| not_onnx(e.to_string()))?
        .with_intra_op_spinning(false)
        .map_err(|e| not_onnx(e.to_string()))?;
    builder.commit_from_file(path).map_err(|e| match e.code() {
        ort::ErrorCode::NoSuchFile => ModelError::ModelFile {
            path: shown.clone(),
            reason: e.to_string(),
        },
        _ => not_onnx(e.to_string()),
    })
}

impl SessionPool {
    /// A pool holding `first` (already opened and validated), growing up to `max` sessions.
    pub(crate) fn new(first: Session, path: &Path, threads: usize, max: usize) -> Self {
        SessionPool {
            path: path.to_path_buf(),
            threads,
            max: max.max(1),
            state: Mutex::new(State {
                idle: vec![first],
                created: 1,
            }),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` with exclusive use of one session.
    pub(crate) fn with_session<R>(
        &self,
        f: impl FnOnce(&mut Session) -> Result<R, ModelError>,
    ) -> Result<R, ModelError> {
        let mut lease = Lease {
            pool: self,
            session: Some(self.acquire()?),
        };
        let result = match lease.session.as_mut() {
            Some(session) => f(session),
            None => Err(ModelError::Inference {
                model: self.path.display().to_string(),
                reason: "no session available".to_string(),
            }),
        };
        drop(lease);
        result
    }

    /// Takes an idle session, opens a new one below the cap, or waits.
    fn acquire(&self) -> Result<Session, ModelError> {
        let mut state = self.lock();
        loop {
            if let Some(s) = state.idle.pop() {
                return Ok(s);
            }
            if state.created < self.max {
                state.created += 1;
                drop(state);
                return self.open_extra();
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Opens one more session; on failure gives its slot back.
    fn open_extra(&self) -> Result<Session, ModelError> {
        let opened = open_session(&self.path, self.threads);
        if opened.is_err() {
            self.lock().created -= 1;
            self.returned.notify_one();
        }
        opened
    }

    fn release(&self, session: Session) {
        self.lock().idle.push(session);
        self.returned.notify_one();
    }
}

/// Returns the session to the pool when dropped, also on unwinding.
struct Lease<'p> {
    pool: &'p SessionPool,
    session: Option<Session>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            self.pool.release(s);
        }
    }
}

//! A loaded, validated model: sessions, tokenizer, and the three operations.
//!
//! **Parallelism.** Each session's intra-op thread pool spans all cores, and a batch of 32 texts
//! already keeps them busy, so `embed` runs its batches one after another on one session rather
//! than fanning batches out over rayon (which would oversubscribe the cores: N workers times N
//! intra-op threads). Tokenization is parallel (tokenizers uses rayon). Callers on several
//! threads share the model; each run borrows a session from a small pool
//! ([`LoadOptions::max_sessions`]), so concurrent queries do not corrupt ONNX Runtime state.

use std::fmt;
use std::path::PathBuf;

use ort::session::SessionInputValue;
use ort::value::Tensor;
use tokenizers::Tokenizer;

use super::pool::{open_session, SessionPool};
use super::signature::{
    self, Signature, TextSig, VectorSig, ATTENTION_MASK, INPUT_IDS, TOKEN_TYPE_IDS,
};
use super::text::{self, TokenBatch};
use super::{LoadOptions, ModelDef, ModelError, ModelKind};

/// Texts tokenized at once by `embed`/`cross_score` (bounds the memory of encodings).
const ENCODE_CHUNK: usize = 4096;
/// Rows per vector-scorer run.
const VECTOR_BATCH: usize = 256;

/// Named session inputs.
type Inputs = Vec<(String, SessionInputValue<'static>)>;

/// A loaded model, shareable between threads (`Arc<Model>`).
pub struct Model {
    def: ModelDef,
    sig: Signature,
    io: String,
    tokenizer: Option<Tokenizer>,
    pool: SessionPool,
    batch_size: usize,
}

/// Compile-time check that a model can be shared between threads.
#[allow(dead_code)]
fn assert_model_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Model>();
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("def", &self.def)
            .field("io", &self.io)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads and validates a model with default [`LoadOptions`].
    pub fn load(def: &ModelDef) -> Result<Model, ModelError> {
        Model::load_with(def, &LoadOptions::default())
    }

    /// Loads a model: checks the files, loads the tokenizer (text kinds), opens a session (this
    /// loads ONNX Runtime on first use), validates the inputs and outputs against the kind, and
    /// fills [`ModelDef::dim`].
    pub fn load_with(def: &ModelDef, opts: &LoadOptions) -> Result<Model, ModelError> {
        def.validate()?;
        let path = check_model_file(&def.path)?;
        let tokenizer = match (&def.tokenizer, def.kind.is_text()) {
            (Some(t), true) => Some(text::load_tokenizer(t, def.max_tokens)?),
            _ => None,
        };
        let session = open_session(&path, opts.intra_threads)?;
        let sig = signature::validate(def, &session)?;
        let io = signature::describe(&session);
        let mut model = Model {
            def: def.clone(),
            sig,
            io,
            tokenizer,
            pool: SessionPool::new(session, &path, opts.intra_threads, opts.max_sessions),
            batch_size: opts.batch_size.max(1),
        };
        model.fill_dim()?;
        Ok(model)
    }

    /// The definition, with [`ModelDef::dim`] filled when known.
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

    /// Embedding dimension (embedding models) or vector dimension (vector scorers), if known.
    pub fn dim(&self) -> Option<usize> {
        self.def.dim
    }

    /// The model's inputs and outputs, e.g. for `SHOW MODELS`.
    pub fn io(&self) -> &str {
        &self.io
    }

    /// Embeds texts (embedding models): one vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let (sig, tok) = self.text_parts(ModelKind::Embedding, "embed text")?;
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for (c, chunk) in texts.chunks(ENCODE_CHUNK).enumerate() {
            let encs = text::encode_texts(tok, chunk).map_err(|e| self.fail(e))?;
            for rows in text::length_batches(&encs, self.batch_size) {
                let vectors = self.embed_batch(sig, &text::pad_batch(&encs, &rows))?;
                scatter(&mut out, c * ENCODE_CHUNK, &rows, vectors);
            }
        }
        Ok(out)
    }

    /// Scores `(query, doc)` pairs (cross-encoders): the model's logit per document, in order.
    pub fn cross_score(&self, query: &str, docs: &[&str]) -> Result<Vec<f32>, ModelError> {
        let (sig, tok) = self.text_parts(ModelKind::CrossEncoder, "score text pairs")?;
        let mut out = vec![0f32; docs.len()];
        for (c, chunk) in docs.chunks(ENCODE_CHUNK).enumerate() {
            let encs = text::encode_pairs(tok, query, chunk).map_err(|e| self.fail(e))?;
            for rows in text::length_batches(&encs, self.batch_size) {
                let batch = text::pad_batch(&encs, &rows);
                let n = batch.rows;
                let inputs = self.text_inputs(sig, &batch)?;
                let scores = self.run(inputs, &sig.output, |dims, data| {
                    read_scores(dims, data, n).map_err(|e| self.fail(e))
                })?;
                scatter(&mut out, c * ENCODE_CHUNK, &rows, scores);
            }
        }
        Ok(out)
    }

    /// Scores a query vector against row vectors (vector scorers), one score per row.
    pub fn vector_score(&self, query: &[f32], rows: &[&[f32]]) -> Result<Vec<f32>, ModelError> {
        let Signature::Vector(sig) = &self.sig else {
            return Err(self.wrong_kind("score vectors"));
        };
        self.check_vectors(sig, query, rows)?;
        let d = query.len();
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(VECTOR_BATCH) {
            let n = chunk.len();
            let inputs = vec![
                (sig.query.clone(), self.tensor_f32([n, d], query.repeat(n))?),
                (sig.rows.clone(), self.tensor_f32([n, d], chunk.concat())?),
            ];
            out.extend(self.run(inputs, &sig.output, |dims, data| {
                read_scores(dims, data, n).map_err(|e| self.fail(e))
            })?);
        }
        Ok(out)
    }

    fn check_vectors(
        &self,
        sig: &VectorSig,
        query: &[f32],
        rows: &[&[f32]],
    ) -> Result<(), ModelError> {
        let d = query.len();
        let bad = |reason: String| ModelError::Input {
            model: self.def.name.clone(),
            reason,
        };
        if d == 0 {
            return Err(bad("the query vector is empty".to_string()));
        }
        if let Some(dim) = sig.dim.filter(|&dim| dim != d) {
            return Err(bad(format!(
                "the query vector has {d} dimensions, the model takes {dim}"
            )));
        }
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != d) {
            return Err(bad(format!(
                "row vector {i} has {} dimensions, the query has {d}",
                r.len()
            )));
        }
        Ok(())
    }

    /// The text signature and tokenizer, if the model is of `kind`.
    fn text_parts(
        &self,
        kind: ModelKind,
        operation: &str,
    ) -> Result<(&TextSig, &Tokenizer), ModelError> {
        match (&self.sig, &self.tokenizer) {
            (Signature::Text(sig), Some(tok)) if self.def.kind == kind => Ok((sig, tok)),
            _ => Err(self.wrong_kind(operation)),
        }
    }

    /// Runs one padded batch and returns its (pooled, normalized) embeddings.
    fn embed_batch(&self, sig: &TextSig, batch: &TokenBatch) -> Result<Vec<Vec<f32>>, ModelError> {
        let inputs = self.text_inputs(sig, batch)?;
        let mut vectors = self.run(inputs, &sig.output, |dims, data| {
            self.read_embeddings(sig, batch, dims, data)
        })?;
        if self.def.normalize {
            vectors.iter_mut().for_each(|v| text::l2_normalize(v));
        }
        Ok(vectors)
    }

    /// Turns an embedding output into one vector per row.
    fn read_embeddings(
        &self,
        sig: &TextSig,
        batch: &TokenBatch,
        dims: &[i64],
        data: &[f32],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let dims: Vec<usize> = dims
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        let bad = || {
            self.fail(format!(
                "unexpected output shape {dims:?} for a batch of {} x {}",
                batch.rows, batch.seq
            ))
        };
        match (sig.pooled, dims.as_slice()) {
            (true, &[r, d]) if r == batch.rows && d > 0 && data.len() == r * d => {
                Ok(data.chunks_exact(d).map(<[f32]>::to_vec).collect())
            }
            (false, &[r, s, d])
                if r == batch.rows && s == batch.seq && d > 0 && data.len() == r * s * d =>
            {
                Ok(text::pool_tokens(data, &batch.mask, s, d, self.def.pooling))
            }
            _ => Err(bad()),
        }
    }

    /// The tensors a text model declares, from a padded batch.
    fn text_inputs(&self, sig: &TextSig, batch: &TokenBatch) -> Result<Inputs, ModelError> {
        let shape = [batch.rows, batch.seq];
        let mut inputs = vec![(
            INPUT_IDS.to_string(),
            self.tensor_i64(shape, batch.ids.clone())?,
        )];
        if sig.mask {
            inputs.push((
                ATTENTION_MASK.to_string(),
                self.tensor_i64(shape, batch.mask.clone())?,
            ));
        }
        if sig.types {
            inputs.push((
                TOKEN_TYPE_IDS.to_string(),
                self.tensor_i64(shape, batch.types.clone())?,
            ));
        }
        Ok(inputs)
    }

    fn tensor_i64(
        &self,
        shape: [usize; 2],
        data: Vec<i64>,
    ) -> Result<SessionInputValue<'static>, ModelError> {
        let t = Tensor::<i64>::from_array((shape, data))
            .map_err(|e| self.fail(format!("cannot build an input tensor: {e}")))?;
        Ok(SessionInputValue::from(t))
    }

    fn tensor_f32(
        &self,
        shape: [usize; 2],
        data: Vec<f32>,
    ) -> Result<SessionInputValue<'static>, ModelError> {
        let t = Tensor::<f32>::from_array((shape, data))
            .map_err(|e| self.fail(format!("cannot build an input tensor: {e}")))?;
        Ok(SessionInputValue::from(t))
    }

    /// Runs the model on one session and hands `read` the float32 output `output` (its dims and
    /// data) while the session's outputs are still borrowed.
    fn run<R>(
        &self,
        inputs: Inputs,
        output: &str,
        read: impl FnOnce(&[i64], &[f32]) -> Result<R, ModelError>,
    ) -> Result<R, ModelError> {
        self.pool.with_session(|session| {
            let outputs = session.run(inputs).map_err(|e| self.fail(e.to_string()))?;
            let value = outputs
                .get(output)
                .ok_or_else(|| self.fail(format!("the model returned no output named {output}")))?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| self.fail(format!("output {output} is not a float32 tensor: {e}")))?;
            let dims: &[i64] = shape;
            read(dims, data)
        })
    }

    /// Fills `def.dim` from the signature, or by embedding one probe text when the model's
    /// output dimension is dynamic; checks it against a dimension recorded earlier.
    fn fill_dim(&mut self) -> Result<(), ModelError> {
        let found = match &self.sig {
            Signature::Vector(v) => v.dim,
            Signature::Text(t) if self.def.kind == ModelKind::Embedding => match t.dim {
                Some(d) => Some(d),
                None => self.embed(&["dimension probe"])?.first().map(Vec::len),
            },
            Signature::Text(_) => None,
        };
        match (self.def.dim, found) {
            (Some(recorded), Some(now)) if recorded != now => Err(ModelError::Signature {
                model: self.def.name.clone(),
                kind: self.def.kind.to_string(),
                expected: format!("dimension {recorded} (recorded when the model was created)"),
                found: format!("dimension {now}"),
            }),
            (_, Some(now)) => {
                self.def.dim = Some(now);
                Ok(())
            }
            (_, None) => Ok(()),
        }
    }

    fn fail(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Inference {
            model: self.def.name.clone(),
            reason: reason.into(),
        }
    }

    fn wrong_kind(&self, operation: &str) -> ModelError {
        ModelError::WrongKind {
            model: self.def.name.clone(),
            kind: self.def.kind.to_string(),
            operation: operation.to_string(),
        }
    }
}

/// Checks that the model file exists and is readable.
fn check_model_file(path: &str) -> Result<PathBuf, ModelError> {
    let fail = |reason: String| ModelError::ModelFile {
        path: path.to_string(),
        reason,
    };
    let p = PathBuf::from(path);
    match std::fs::metadata(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail("no such file".to_string())),
        Err(e) => Err(fail(format!("cannot read it: {e}"))),
        Ok(m) if !m.is_file() => Err(fail("not a regular file".to_string())),
        Ok(_) => std::fs::File::open(&p)
            .map(|_| p.clone())
            .map_err(|e| fail(format!("cannot open it: {e}"))),
    }
}

/// One score per row from a `[rows]` or `[rows, 1]` output.
fn read_scores(dims: &[i64], data: &[f32], rows: usize) -> Result<Vec<f32>, String> {
    let ok = matches!(dims, [r] | [r, 1] if usize::try_from(*r).ok() == Some(rows))
        && data.len() == rows;
    if ok {
        Ok(data.to_vec())
    } else {
        Err(format!(
            "expected {rows} scores ([batch] or [batch, 1]), the model returned shape {dims:?}"
        ))
    }
}

/// Writes `values[k]` to `out[offset + rows[k]]`.
fn scatter<T>(out: &mut [T], offset: usize, rows: &[usize], values: Vec<T>) {
    for (&i, v) in rows.iter().zip(values) {
        if let Some(slot) = out.get_mut(offset + i) {
            *slot = v;
        }
    }
}

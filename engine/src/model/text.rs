//! Tokenization, length-sorted batching with per-batch padding, and pooling: the
//! sentence-transformers pipeline (`data/scripts/embed_lib.py`).

use std::path::Path;

use tokenizers::{Encoding, PostProcessor, Tokenizer, TruncationParams};

use super::{ModelError, Pooling};

/// One padded batch, row-major `[rows, seq]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TokenBatch {
    /// Number of rows.
    pub rows: usize,
    /// Padded sequence length (the longest row of the batch, at least 1).
    pub seq: usize,
    /// Token ids, 0 in padding.
    pub ids: Vec<i64>,
    /// Attention mask, 0 in padding.
    pub mask: Vec<i64>,
    /// Token type (segment) ids, 0 in padding.
    pub types: Vec<i64>,
}

/// Loads `tokenizer.json` with padding off and truncation to `max_tokens`, special tokens included.
pub(crate) fn load_tokenizer(path: &str, max_tokens: usize) -> Result<Tokenizer, ModelError> {
    let fail = |reason: String| ModelError::Tokenizer {
        path: path.to_string(),
        reason,
    };
    let p = Path::new(path);
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail("no such file".to_string()))
        }
        Err(e) => return Err(fail(format!("cannot read it: {e}"))),
        Ok(m) if !m.is_file() => return Err(fail("not a regular file".to_string())),
        Ok(_) => {}
    }
    let mut tok = Tokenizer::from_file(p)
        .map_err(|e| fail(format!("not a Hugging Face tokenizer.json ({e})")))?;
    // tokenizers subtracts the special tokens from max_length without a check: keep room.
    let added = tok
        .get_post_processor()
        .map_or(0, |pp| pp.added_tokens(true));
    if max_tokens <= added + 1 {
        let reason = format!(
            "MAX_TOKENS {max_tokens} leaves no room next to the {added} special tokens of a pair"
        );
        return Err(fail(reason));
    }
    tok.with_padding(None);
    tok.with_truncation(Some(TruncationParams {
        max_length: max_tokens,
        ..Default::default()
    }))
    .map_err(|e| fail(format!("cannot set truncation to {max_tokens} tokens: {e}")))?;
    Ok(tok)
}

/// Tokenizes single texts (with special tokens).
pub(crate) fn encode_texts(tok: &Tokenizer, texts: &[&str]) -> Result<Vec<Encoding>, String> {
    let encs = tok
        .encode_batch(texts.to_vec(), true)
        .map_err(|e| format!("tokenization failed: {e}"))?;
    same_count(encs, texts.len())
}

/// Tokenizes `(query, doc)` pairs: `[CLS] query [SEP] doc [SEP]`, token types 0 then 1.
pub(crate) fn encode_pairs(
    tok: &Tokenizer,
    query: &str,
    docs: &[&str],
) -> Result<Vec<Encoding>, String> {
    let pairs: Vec<(&str, &str)> = docs.iter().map(|d| (query, *d)).collect();
    let encs = tok
        .encode_batch(pairs, true)
        .map_err(|e| format!("tokenization failed: {e}"))?;
    same_count(encs, docs.len())
}

fn same_count(encs: Vec<Encoding>, n: usize) -> Result<Vec<Encoding>, String> {
    if encs.len() == n {
        Ok(encs)
    } else {
        Err(format!(
            "the tokenizer returned {} encodings for {n} inputs",
            encs.len()
        ))
    }
}

/// Row indices sorted by token count (stable), cut into batches of `size`.
pub(crate) fn length_batches(encs: &[Encoding], size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..encs.len()).collect();
    order.sort_by_key(|&i| encs.get(i).map_or(0, Encoding::len));
    order.chunks(size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Pads the encodings at `rows` (indices into `encs`) to the batch's longest row.
pub(crate) fn pad_batch(encs: &[Encoding], rows: &[usize]) -> TokenBatch {
    let picked: Vec<&Encoding> = rows.iter().filter_map(|&i| encs.get(i)).collect();
    let seq = picked.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
    let n = picked.len();
    let mut batch = TokenBatch {
        rows: n,
        seq,
        ids: Vec::with_capacity(n * seq),
        mask: Vec::with_capacity(n * seq),
        types: Vec::with_capacity(n * seq),
    };
    for e in picked {
        push_padded(&mut batch.ids, e.get_ids(), seq);
        push_padded(&mut batch.mask, e.get_attention_mask(), seq);
        push_padded(&mut batch.types, e.get_type_ids(), seq);
    }
    batch
}

fn push_padded(out: &mut Vec<i64>, row: &[u32], seq: usize) {
    out.extend((0..seq).map(|i| row.get(i).map_or(0, |&x| i64::from(x))));
}

/// Pools token embeddings `hidden` (`[rows, seq, dim]` row-major) with `mask` (`[rows, seq]`).
/// The caller checks `hidden.len() == rows * seq * dim` and `mask.len() == rows * seq`.
pub(crate) fn pool_tokens(
    hidden: &[f32],
    mask: &[i64],
    seq: usize,
    dim: usize,
    pooling: Pooling,
) -> Vec<Vec<f32>> {
    if seq == 0 || dim == 0 {
        return Vec::new();
    }
    hidden
        .chunks_exact(seq * dim)
        .zip(mask.chunks_exact(seq))
        .map(|(tokens, m)| match pooling {
            Pooling::Cls => tokens.iter().take(dim).copied().collect(),
            Pooling::Mean => masked_mean(tokens, m, dim),
        })
        .collect()
}

/// Mean of the token vectors whose mask is non-zero (zeros if none), summed in f64.
fn masked_mean(tokens: &[f32], mask: &[i64], dim: usize) -> Vec<f32> {
    let mut acc = vec![0f64; dim];
    let mut kept = 0usize;
    for (token, &m) in tokens.chunks_exact(dim).zip(mask) {
        if m != 0 {
            kept += 1;
            for (a, &x) in acc.iter_mut().zip(token) {
                *a += f64::from(x);
            }
        }
    }
    let denom = (kept as f64).max(1e-9);
    acc.into_iter().map(|a| (a / denom) as f32).collect()
}

/// Scales `v` to unit L2 norm (left as is when its norm is below 1e-12).
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    for x in v.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_padding() {
        // 2 rows, seq 3, dim 2; row 1 has one padded token holding garbage.
        let hidden = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 30.0, 40.0, 99.0, 99.0,
        ];
        let mask = [1, 1, 1, 1, 1, 0];
        let pooled = pool_tokens(&hidden, &mask, 3, 2, Pooling::Mean);
        assert_eq!(pooled, vec![vec![3.0, 4.0], vec![20.0, 30.0]]);
        let cls = pool_tokens(&hidden, &mask, 3, 2, Pooling::Cls);
        assert_eq!(cls, vec![vec![1.0, 2.0], vec![10.0, 20.0]]);
    }

    #[test]
    fn normalizes_and_keeps_zero() {
        let mut v = [3.0f32, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        let mut z = [0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }
}

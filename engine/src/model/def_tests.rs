//! Unit tests of `CREATE MODEL` option parsing and `ModelDef` serialization.
use super::*;

fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parses_all_options() {
    let o = opts(&[
        ("tokenizer", "t.json"),
        ("Kind", "embedding"),
        ("MAX_TOKENS", "128"),
        ("pooling", "CLS"),
        ("normalize", "false"),
        ("output", "sentence_embedding"),
    ]);
    let d = ModelDef::from_options("m", "m.onnx", &o).expect("valid options");
    assert_eq!(d.tokenizer.as_deref(), Some("t.json"));
    assert_eq!(
        (d.kind, d.max_tokens, d.pooling, d.normalize),
        (ModelKind::Embedding, 128, Pooling::Cls, false)
    );
    assert_eq!(d.output.as_deref(), Some("sentence_embedding"));
    let json = serde_json::to_string(&d).expect("serializes");
    assert_eq!(serde_json::from_str::<ModelDef>(&json).expect("parses"), d);
}

#[test]
fn defaults_and_kinds() {
    let d =
        ModelDef::from_options("m", "m.onnx", &opts(&[("TOKENIZER", "t.json")])).expect("valid");
    assert_eq!(
        (d.kind, d.max_tokens, d.pooling, d.normalize),
        (ModelKind::Embedding, 256, Pooling::Mean, true)
    );
    let v =
        ModelDef::from_options("v", "v.onnx", &opts(&[("KIND", "vector_scorer")])).expect("valid");
    assert_eq!(v.kind, ModelKind::VectorScorer);
    let old: ModelDef =
        serde_json::from_str(r#"{"name":"a","path":"a.onnx","kind":"cross_encoder"}"#).expect("ok");
    assert_eq!(
        (old.max_tokens, old.normalize, old.tokenizer),
        (256, true, None)
    );
}

#[test]
fn rejects_bad_options() {
    let bad = [
        opts(&[("TOKENIZER", "t.json"), ("COLOR", "red")]),
        opts(&[("TOKENIZER", "t.json"), ("tokenizer", "u.json")]),
        opts(&[("TOKENIZER", "t.json"), ("KIND", "classifier")]),
        opts(&[("TOKENIZER", "t.json"), ("MAX_TOKENS", "-3")]),
        opts(&[("TOKENIZER", "t.json"), ("MAX_TOKENS", "2")]),
        opts(&[("TOKENIZER", "t.json"), ("POOLING", "max")]),
        opts(&[("TOKENIZER", "t.json"), ("NORMALIZE", "maybe")]),
        opts(&[("KIND", "vector_scorer"), ("TOKENIZER", "t.json")]),
        opts(&[
            ("KIND", "cross_encoder"),
            ("TOKENIZER", "t.json"),
            ("POOLING", "cls"),
        ]),
        opts(&[("TOKENIZER", "t.json"), ("OUTPUT", "")]),
    ];
    for o in &bad {
        let e = ModelDef::from_options("m", "m.onnx", o).expect_err("must be rejected");
        assert!(matches!(e, ModelError::Option { .. }), "{o:?}: {e}");
    }
    let e = ModelDef::from_options("m", "m.onnx", &opts(&[("KIND", "cross_encoder")]))
        .expect_err("no tokenizer");
    assert!(matches!(e, ModelError::TokenizerRequired { .. }), "{e}");
}

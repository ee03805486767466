//! A missing or wrong ONNX Runtime library is an error that says how to fix it, never a
//! panic, and the process recovers once a good library is named. ort loads its library once
//! per process, so this runs in a child process of its own (a custom harness: the parent runs
//! this binary again with `child` and a broken ORT_DYLIB_PATH, and checks that it succeeded).

mod onnx_common;

use std::path::PathBuf;
use std::process::Command;

use nestdb::model::{self, Model, ModelError};
use onnx_common::*;

fn child() {
    // 1. ORT_DYLIB_PATH names a missing file.
    let e = model::init_runtime().expect_err("a missing library must not load");
    assert!(
        matches!(&e, ModelError::RuntimeLoad { origin, .. } if origin == "ORT_DYLIB_PATH"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("pip install onnxruntime") && msg.contains("libonnxruntime.so.1.32.0"),
        "{msg}"
    );
    // Files are checked first; then loading the model reports the runtime error.
    let e = Model::load(&minilm_def()).expect_err("no runtime");
    assert!(e.is_runtime(), "{e}");
    assert!(model::runtime_path().is_none());

    // 2. Files that are not ONNX Runtime.
    let capi = wheel_runtime().with_file_name("libonnxruntime_providers_shared.so");
    let mut wrong = vec![PathBuf::from(fixture("minilm_reference.json"))];
    if capi.is_file() {
        wrong.push(capi);
    }
    for path in wrong {
        model::set_runtime_path(Some(path.clone()));
        let e = model::init_runtime().expect_err("not a runtime");
        assert!(
            matches!(&e, ModelError::RuntimeLoad { origin, .. } if origin == "set_runtime_path"),
            "{e}"
        );
    }

    // 3. Recovery: discovery (the default .venv layout) or the wheel, then a real model runs.
    model::set_runtime_path(None);
    std::env::remove_var("ORT_DYLIB_PATH");
    if std::env::var_os("NESTDB_SITE_PACKAGES").is_none() {
        let (found, origin) = model::find_runtime().expect("discover the .venv runtime");
        assert!(
            found.to_string_lossy().contains("libonnxruntime.so"),
            "{}",
            found.display()
        );
        assert!(origin.contains("search"), "{origin}");
    } else {
        model::set_runtime_path(Some(wheel_runtime()));
    }
    let path = model::init_runtime().unwrap_or_else(|e| panic!("load after failures: {e}"));
    assert_eq!(model::runtime_path(), Some(path));
    let model = Model::load(&minilm_def()).expect("load MiniLM");
    assert_eq!(model.embed(&["recovered"]).expect("embed")[0].len(), DIM);
    println!("runtime child: ok");
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("child") {
        child();
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        println!("unloadable_runtime_is_an_error_not_a_panic: test");
        return;
    }
    let out = Command::new(std::env::current_exe().expect("test binary path"))
        .arg("child")
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.32.0")
        .output()
        .expect("run the child");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("runtime child: ok"),
        "the child did not finish:\n{stdout}\n{stderr}"
    );
    println!("test unloadable_runtime_is_an_error_not_a_panic ... ok");
}

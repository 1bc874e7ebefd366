//! Replays the fuzz targets' seed corpora and every crash input ever found
//! (`fuzz/corpus/<target>/`, `fuzz/artifacts/<target>/`) through the same functions the
//! fuzzers call, so CI checks them without a fuzzer installed. Each input must give a
//! result (usually an error), never a panic.

use std::path::Path;

fn replay(target: &str, run: impl Fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&bytes)));
            assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for fuzz target {target}");
}

#[test]
fn idx_corpus() {
    replay("idx", |b| {
        let _ = ferrite::nn::data::parse_idx(b, "corpus");
    });
}

#[test]
fn checkpoint_corpus() {
    replay("checkpoint", |b| {
        let _ = ferrite::nn::checkpoint::Checkpoint::<f32>::from_bytes(b, "corpus");
    });
}

#[test]
fn safetensors_corpus() {
    replay("safetensors", |b| {
        let _ = ferrite::nn::checkpoint::from_safetensors_bytes::<f32>(b, "corpus");
    });
}

#[test]
fn cifar10_corpus() {
    replay("cifar10", |b| {
        let _ = ferrite::nn::data::Cifar10::from_bytes(b, "corpus");
    });
}

#[test]
fn torch_pt_corpus() {
    replay("torch_pt", |b| {
        let _ = ferrite::nn::checkpoint::from_torch_bytes::<f32>(b, "corpus");
    });
}

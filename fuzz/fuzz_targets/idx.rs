//! The IDX reader (MNIST files, raw or gzip) must refuse any byte string without panicking,
//! hanging or allocating more than the input justifies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferrite_nn::data::parse_idx(data, "fuzz");
});

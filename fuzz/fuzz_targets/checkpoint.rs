//! The checkpoint loader must refuse any byte string without panicking or over-allocating.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferrite_nn::checkpoint::Checkpoint::<f32>::from_bytes(data, "fuzz");
});

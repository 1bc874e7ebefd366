//! The safetensors importer must refuse any byte string without panicking or over-allocating.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferrite_nn::checkpoint::from_safetensors_bytes::<f32>(data, "fuzz");
});

//! The `.pt` reader (zip container, restricted unpickler, tensor views) must refuse any byte
//! string without panicking, executing anything or over-allocating.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferrite_nn::checkpoint::from_torch_bytes::<f32>(data, "fuzz");
});

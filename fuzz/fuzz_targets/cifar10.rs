//! The CIFAR-10 binary reader must refuse any byte string (a length that is not whole
//! records, a label above 9) without panicking, hanging or allocating more than the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferrite_nn::data::Cifar10::from_bytes(data, "fuzz");
});

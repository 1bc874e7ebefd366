//! The conv1 example: the first convolutional layer of a CNN ("conv1"), forward and
//! backward. `cargo run --release --example conv1` prints:
//!
//! ```text
//! Input shape: [1, 1, 9, 9]
//! Conv1 output shape: [1, 1, 4, 4]
//! Output size: (9 + 2*0 - 1*(3 - 1) - 1) / 2 + 1 = 4 (height), (9 + 2*0 - 1*(3 - 1) - 1) / 2 + 1 = 4 (width)
//! ...
//! ```
//!
//! The program is step 3 of the tutorial, `examples/03_conv1.rs`: read it there.

#[path = "03_conv1.rs"]
mod conv1;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    conv1::main()
}

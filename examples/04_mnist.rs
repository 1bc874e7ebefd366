//! Step 4 of the tutorial: the main job, training SmallCnn on MNIST digits. This is the
//! `mnist` example under another name (`cargo run --release --example 04_mnist` is the same
//! as `--example mnist`); read `examples/mnist/main.rs` and `docs/training.md`.

#[path = "mnist/main.rs"]
mod mnist;

fn main() -> std::process::ExitCode {
    mnist::main()
}

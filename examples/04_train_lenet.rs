//! Step 4 of the tutorial: train LeNet-5 on the 10,000 MNIST digits shipped in the repo.
//!
//! `cargo run --release --example 04_train_lenet` trains 5 epochs (about 25 s on 2 cores)
//! and prints the test accuracy after each; the last line is `epoch 5: test accuracy:
//! 97.14%` on every machine and for any thread count (ferrite's results are bit-identical).
//! The same model and loop in PyTorch: `nn.Sequential(nn.Conv2d(1, 6, 5, padding=2),
//! nn.ReLU(), nn.MaxPool2d(2), ...)`, `torch.optim.Adam(model.parameters(), lr=1e-3)`, and
//! the four lines of the loop. The full command-line trainer (checkpoints, resume, plots)
//! is `examples/mnist/`.

use ferrite::nn::metrics::accuracy;
use ferrite::prelude::*;

fn lenet5(rng: &mut Rng) -> Result<Sequential, TensorError> {
    Ok(Sequential::new()
        .append(Conv2d::new(
            Conv2dConfig::new(1, 6, 5).with_padding(2),
            rng,
        )?)
        .append(ReLU)
        .append(MaxPool2d::new(2))
        .append(Conv2d::new(Conv2dConfig::new(6, 16, 5), rng)?)
        .append(ReLU)
        .append(MaxPool2d::new(2))
        .append(Flatten::default())
        .append(Linear::new(16 * 5 * 5, 120, rng))
        .append(ReLU)
        .append(Linear::new(120, 84, rng))
        .append(ReLU)
        .append(Linear::new(84, 10, rng)))
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = lenet5(&mut seeded_rng(0))?;
    let (train, test) = (
        Mnist::embedded(Split::Train)?,
        Mnist::embedded(Split::Test)?,
    );
    let loader = DataLoader::new(&train)
        .with_batch_size(64)
        .with_shuffle(true)
        .with_drop_last(true);
    let mut opt = Adam::new(model.parameters(), AdamConfig::new(1e-3))?;
    for epoch in 0..5 {
        for batch in loader.epoch(epoch) {
            let batch = batch?;
            let logits = model.forward(&Var::new(batch.images))?;
            let loss = cross_entropy(
                &logits,
                &Indices::from_classes(&batch.labels),
                &CrossEntropyOptions::default(),
            )?;
            opt.zero_grad();
            loss.backward()?;
            opt.step()?;
        }
        let test_batch = DataLoader::new(&test)
            .with_batch_size(test.len())
            .epoch(0)
            .next();
        let test_batch = test_batch.ok_or("empty test set")??;
        let logits = no_grad(|| model.forward(&Var::new(test_batch.images)))?;
        let acc = accuracy(&logits.value(), &test_batch.labels)?;
        println!("epoch {}: test accuracy: {:.2}%", epoch + 1, 100.0 * acc);
    }
    Ok(())
}

//! Step 4 of the tutorial: train LeNet-5 on the 10,000 MNIST digits shipped in the repo.
//!
//! `cargo run --release --example 04_train_lenet` trains 3 epochs (about half a minute on 2
//! cores) and prints the test accuracy after each, ending near `test accuracy: 98.5%` (the
//! exact figure depends on the machine's thread count only through timing, never the
//! numbers: any run gives the same bits). The same model and loop in PyTorch:
//! `nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), ...)`,
//! `torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)`, and the four lines of the
//! loop. The full command-line trainer (checkpoints, resume, plots) is `examples/mnist/`.

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
        .with_shuffle(true);
    let mut opt = Sgd::new(model.parameters(), SgdConfig::new(0.05).with_momentum(0.9))?;
    for epoch in 0..3 {
        for batch in loader.epoch(epoch) {
            let batch = batch?;
            let logits = model.forward(&Var::new(batch.images))?;
            let loss = cross_entropy(&logits, &batch.labels, &CrossEntropyOptions::default())?;
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

//! Step 4 of the tutorial: train LeNet-5 on the 10,000 MNIST digits shipped in the repo.
//!
//! `cargo run --release --example 04_train_lenet` trains 5 epochs (about 25 s on 2 cores)
//! and prints the test accuracy after each; the last line is `epoch 5: test accuracy:
//! 97.14%` on every machine and for any thread count (ferrite's results are bit-identical).
//! The same model and loop in PyTorch: `class LeNet(nn.Module)` with `__init__` and
//! `forward`, `torch.manual_seed(0)`, `torch.optim.Adam(model.parameters(), lr=1e-3)`, and
//! the four lines of the loop. The full command-line trainer (checkpoints, resume, plots)
//! is `examples/mnist/`.

use ferrite::nn::metrics::accuracy;
use ferrite::prelude::*;

/// LeNet-5 for 28x28 digits, as PyTorch's tutorial writes it: the layers, `new`,
/// `forward`, and `children` naming the layers (parameters, `state_dict`, `zero_grad`,
/// `train`/`eval` follow from it).
struct LeNet {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl LeNet {
    fn new() -> Self {
        LeNet {
            conv1: Conv2d::new(1, 6, 5).with_padding(2),
            conv2: Conv2d::new(6, 16, 5),
            pool: MaxPool2d::new(2),
            fc1: Linear::new(16 * 5 * 5, 120),
            fc2: Linear::new(120, 84),
            fc3: Linear::new(84, 10),
        }
    }
}

impl Module for LeNet {
    fn forward(&self, x: &Var) -> Result<Var, TensorError> {
        let x = self.pool.forward(&self.conv1.forward(x)?.relu()?)?;
        let x = self.pool.forward(&self.conv2.forward(&x)?.relu()?)?;
        let x = self.fc1.forward(&x.flatten(1, -1)?)?.relu()?;
        self.fc3.forward(&self.fc2.forward(&x)?.relu()?)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let layers: [(&str, &dyn Module); 5] = [
            ("conv1", &self.conv1),
            ("conv2", &self.conv2),
            ("fc1", &self.fc1),
            ("fc2", &self.fc2),
            ("fc3", &self.fc3),
        ];
        layers.map(|(name, layer)| (name.to_string(), layer)).into()
    }
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    manual_seed(0);
    let model = LeNet::new();
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

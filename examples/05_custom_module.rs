//! Step 5 of the tutorial: your own layers. `LeakyReLU` is a new op written with
//! `Var::from_op` (forward and hand-written backward side by side), checked by `gradcheck`,
//! which also catches a deliberately wrong backward. `Scale` is a layer with a parameter,
//! built from existing ops (so its backward comes for free). Both go into a `Sequential`
//! next to ferrite's own layers, show up in `summary`, and train.
//!
//! Run with `cargo run --release --example 05_custom_module`. It prints:
//!
//! ```text
//! leaky_relu([-2, -0.5, 0.5, 3], 0.1) = [-0.2, -0.05, 0.5, 3.0]
//! its gradient: [0.1, 0.1, 1.0, 1.0]
//! gradcheck of leaky_relu: passed (36 Jacobian entries)
//! gradcheck of the buggy version: gradcheck: backward of 'leaky_relu_with_a_bug' is wrong for x at index [0, 0] (output element 0): analytical 0e0, numerical 9.999999998899778e-2
//! ==============================================================================
//! Layer (type)                Output Shape               Param #       Mult-Adds
//! ==============================================================================
//! input                       [1, 1, 28, 28]
//! conv1 (Conv2d)              [1, 4, 13, 13]                  40           6,084
//! scale1 (Scale)              [1, 4, 13, 13]                   4             676
//! act1 (LeakyReLU)            [1, 4, 13, 13]                   0               0
//! flatten (Flatten)           [1, 676]                         0               0
//! fc (Linear)                 [1, 10]                      6,770           6,760
//! ==============================================================================
//! Total params: 6,814
//! Total mult-adds: 13,520
//! ==============================================================================
//! parameters: ["conv1.weight", "conv1.bias", "scale1.weight", "fc.weight", "fc.bias"]
//! loss over 5 steps on one batch: 2.457 -> 1.883 -> 1.520 -> 1.200 -> 0.927
//! scale1.weight after training: [1.0314, 1.0030, 1.0734, 0.9990]
//! ```

use ferrite::nn::data::{DataLoader, Mnist, Split, Subset};
use ferrite::nn::loss::{CrossEntropyOptions, cross_entropy};
use ferrite::nn::optim::{Optimizer, Sgd, SgdConfig};
use ferrite::nn::summary;
use ferrite::prelude::*;

/// `leaky_relu(x) = x` where `x > 0`, `slope · x` elsewhere, like
/// `torch.nn.functional.leaky_relu(x, negative_slope)`: a new op.
///
/// The forward pass computes the value now; the closure given to `Var::from_op` is the
/// backward pass, run later by `backward()` with the gradient of the output `g`. It sets
/// the gradient of each input with `grads.set(i, ..)`: here `g · 1` where `x > 0` and
/// `g · slope` elsewhere.
/// It captures the input's value (a `Tensor`), never a `Var`.
fn leaky_relu<T: Float>(x: &Var<T>, slope: f64) -> Result<Var<T>, TensorError> {
    let slope = T::of(slope);
    let input = x.value();
    let y = input.map(move |v| if v > T::zero() { v } else { slope * v });
    Var::from_op("leaky_relu", y, &[x], move |g, grads| {
        grads.set(0, || {
            g.zip_with("leaky_relu_backward", &input, move |g, v| {
                if v > T::zero() { g } else { slope * g }
            })
        })
    })
}

/// The same op with a bug: its backward forgets the slope (it is ReLU's backward).
fn leaky_relu_with_a_bug(x: &Var<f64>, slope: f64) -> Result<Var<f64>, TensorError> {
    let input = x.value();
    let y = input.map(move |v| if v > 0.0 { v } else { slope * v });
    Var::from_op("leaky_relu_with_a_bug", y, &[x], move |g, grads| {
        grads.set(0, || {
            g.zip_with("backward", &input, |g, v| if v > 0.0 { g } else { 0.0 })
        })
    })
}

/// The layer around the op: no parameters, so `forward`, `type_name` and `describe` are all
/// there is to write.
#[derive(Debug, Clone, Copy)]
struct LeakyReLU {
    negative_slope: f64,
}

impl<T: Float> Module<T> for LeakyReLU {
    fn forward(&self, input: &Var<T>) -> Result<Var<T>, TensorError> {
        leaky_relu(input, self.negative_slope)
    }
    fn type_name(&self) -> &'static str {
        "LeakyReLU"
    }
    fn describe(&self) -> String {
        format!("LeakyReLU(negative_slope={})", self.negative_slope)
    }
}

/// `y[n, c, h, w] = x[n, c, h, w] · weight[c]`: one learnable factor per channel. Built from
/// existing ops (reshape, then a broadcasting multiply), so autograd derives its backward.
#[derive(Debug)]
struct Scale<T: Float = f32> {
    weight: Var<T>,
}

impl<T: Float> Scale<T> {
    /// Factors start at 1: the layer starts as the identity.
    fn new(channels: usize) -> Self {
        Scale {
            weight: Var::parameter(Tensor::ones(&[channels])),
        }
    }
}

impl<T: Float> Module<T> for Scale<T> {
    fn forward(&self, input: &Var<T>) -> Result<Var<T>, TensorError> {
        let channels = self.weight.shape()[0] as isize;
        input.mul(&self.weight.reshape(&[1, channels, 1, 1])?)
    }
    fn type_name(&self) -> &'static str {
        "Scale"
    }
    fn describe(&self) -> String {
        format!("Scale({})", self.weight.shape()[0])
    }
    // Registering the parameter is what makes `named_parameters`, optimizers, `state_dict`
    // and `summary` see it.
    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
    fn multiply_adds(&self, output_shape: &[usize]) -> u64 {
        output_shape.iter().product::<usize>() as u64
    }
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    the_op_on_a_few_numbers()?;
    check_the_backward()?;
    let model = custom_layers_in_a_sequential()?;
    and_they_train(&model)
}

fn the_op_on_a_few_numbers() -> Result<(), Box<dyn std::error::Error>> {
    // --- The op on a few numbers ------------------------------------------------------
    let x = Var::parameter(Tensor::<f64>::from_vec(vec![-2.0, -0.5, 0.5, 3.0], &[4])?);
    let y = leaky_relu(&x, 0.1)?;
    y.sum_all()?.backward()?;
    println!(
        "leaky_relu([-2, -0.5, 0.5, 3], 0.1) = {:?}",
        y.value().to_vec()
    );
    println!(
        "its gradient: {:?}",
        x.grad().ok_or("no gradient")?.to_vec()
    );
    Ok(())
}

fn check_the_backward() -> Result<(), Box<dyn std::error::Error>> {
    // --- Check the backward by finite differences ---------------------------------------
    // Inputs away from 0, where the derivative jumps and finite differences mean nothing.
    let inputs = [Tensor::<f64>::from_vec(
        vec![-1.5, -0.7, -0.2, 0.3, 0.9, 2.0],
        &[2, 3],
    )?];
    let options = GradcheckOptions::default().with_input_names(&["x"]);
    let report = gradcheck(|v: &[Var<f64>]| leaky_relu(&v[0], 0.1), &inputs, &options)?;
    println!(
        "gradcheck of leaky_relu: passed ({} Jacobian entries)",
        report.checked
    );
    match gradcheck(
        |v: &[Var<f64>]| leaky_relu_with_a_bug(&v[0], 0.1),
        &inputs,
        &options,
    ) {
        Err(e) => println!("gradcheck of the buggy version: {e}"),
        Ok(_) => return Err("gradcheck missed the bug".into()),
    }
    Ok(())
}

fn custom_layers_in_a_sequential() -> Result<Sequential, Box<dyn std::error::Error>> {
    // --- Custom layers in a Sequential --------------------------------------------------
    manual_seed(0);
    let model: Sequential = Sequential::new()
        .add_module("conv1", Conv2d::new(1, 4, 3).with_stride(2))
        .add_module("scale1", Scale::new(4))
        .add_module(
            "act1",
            LeakyReLU {
                negative_slope: 0.1,
            },
        )
        .add_module("flatten", Flatten::new())
        .add_module("fc", Linear::new(4 * 13 * 13, 10));
    println!("{}", summary(&model, &[1, 1, 28, 28])?);
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    println!("parameters: {names:?}");
    Ok(model)
}

fn and_they_train(model: &Sequential) -> Result<(), Box<dyn std::error::Error>> {
    // --- And they train ---------------------------------------------------------------
    // A few steps of SGD on one batch of 32 digits: the loss must fall, and the Scale
    // factors must have moved away from 1.
    let digits = Subset::take(Mnist::embedded(Split::Train)?, 32);
    let batch = DataLoader::new(&digits)
        .with_batch_size(32)
        .epoch(0)
        .next()
        .ok_or("no batch")??;
    let images = Var::new(batch.images);
    let mut sgd = Sgd::new(model.parameters(), SgdConfig::new(0.05))?;
    let mut losses = Vec::new();
    for _ in 0..5 {
        let loss = cross_entropy(
            &model.forward(&images)?,
            &Indices::from_classes(&batch.labels),
            &CrossEntropyOptions::default(),
        )?;
        sgd.zero_grad();
        loss.backward()?;
        sgd.step()?;
        losses.push(loss.item()?);
    }
    let shown: Vec<String> = losses.iter().map(|l| format!("{l:.3}")).collect();
    println!("loss over 5 steps on one batch: {}", shown.join(" -> "));
    if losses[4] >= losses[0] {
        return Err("the loss did not fall".into());
    }
    let scale = model
        .named_parameters()
        .into_iter()
        .find(|(n, _)| n == "scale1.weight")
        .ok_or("no scale1.weight")?
        .1;
    let factors: Vec<String> = scale
        .value()
        .to_vec()
        .iter()
        .map(|f| format!("{f:.4}"))
        .collect();
    println!("scale1.weight after training: [{}]", factors.join(", "));
    Ok(())
}

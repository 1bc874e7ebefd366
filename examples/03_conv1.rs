//! Step 3 of the tutorial: conv1 forward and backward. A 9x9 image
//! goes through one 3x3 filter with stride 2 (a 4x4 feature map), then ReLU and a sum;
//! backward sends the gradient to the filter and the bias, and a gradient check confirms it.
//! `docs/conv1.md` explains every step with numbers you can check by hand.
//!
//! `cargo run --release --example conv1` runs this same file under its original name.
//!
//! Run with `cargo run --release --example 03_conv1`. It prints:
//!
//! ```text
//! Input shape: [1, 1, 9, 9]
//! Conv1 output shape: [1, 1, 4, 4]
//! Output size: (9 + 2*0 - 1*(3 - 1) - 1) / 2 + 1 = 4 (height), (9 + 2*0 - 1*(3 - 1) - 1) / 2 + 1 = 4 (width)
//! After ReLU: 16 values, 7 of them zero
//! Sum of the feature map: 3.007460
//! conv1.weight grad shape: [1, 1, 3, 3]
//! conv1.bias grad shape: [1]
//! gradcheck of conv1 in f64: passed (1456 Jacobian entries, max error 8.9e-11)
//! ```

use ferrite::prelude::*;

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    // PyTorch: torch.manual_seed(0); input_data = torch.randn(1, 1, 9, 9), drawn from the
    // default generator, as the layer's weights are next.
    manual_seed(0);
    let input_data: Var = Var::new(with_default_rng(|rng| Tensor::randn(&[1, 1, 9, 9], rng)));
    // PyTorch: conv1 = nn.Conv2d(1, 1, 3, stride=2)
    let conv1: Conv2d = Conv2d::new(1, 1, 3).with_stride(2);
    // PyTorch: conv_output = conv1(input_data)
    let conv_output = conv1.forward(&input_data)?;

    println!("Input shape: {:?}", input_data.shape());
    println!("Conv1 output shape: {:?}", conv_output.shape());

    // The output-size formula floor((H + 2p - d(k - 1) - 1) / s) + 1, evaluated with the
    // layer's own numbers (with dilation 1 it is (H + 2p - k) / s + 1).
    let config = conv1.config();
    let pad = config.params.resolve_padding(config.kernel_size)?;
    let input_hw = [input_data.shape()[2], input_data.shape()[3]];
    let out_hw = config.params.output_size(input_hw, config.kernel_size)?;
    println!(
        "Output size: ({} + 2*{} - {}*({} - 1) - 1) / {} + 1 = {} (height), ({} + 2*{} - {}*({} - 1) - 1) / {} + 1 = {} (width)",
        input_hw[0],
        pad[0],
        config.params.dilation[0],
        config.kernel_size[0],
        config.params.stride[0],
        out_hw[0],
        input_hw[1],
        pad[2],
        config.params.dilation[1],
        config.kernel_size[1],
        config.params.stride[1],
        out_hw[1]
    );

    // The non-linearity, then a scalar to differentiate.
    let activated = conv_output.relu()?;
    let zeros = activated
        .value()
        .to_vec()
        .iter()
        .filter(|&&x| x == 0.0)
        .count();
    println!(
        "After ReLU: {} values, {zeros} of them zero",
        activated.value().numel()
    );
    let total = activated.sum_all()?;
    println!("Sum of the feature map: {:.6}", total.item()?);
    total.backward()?;

    for (name, param) in conv1.named_parameters() {
        let grad = param.grad().ok_or("no gradient reached conv1")?;
        println!("conv1.{name} grad shape: {:?}", grad.shape());
    }

    // Check conv1's backward against finite differences, in f64.
    let x = with_default_rng(|rng| Tensor::<f64>::randn(&[1, 1, 9, 9], rng));
    let w = conv1.weight().value().cast::<f64>();
    let b = conv1
        .bias()
        .ok_or("conv1 has a bias")?
        .value()
        .cast::<f64>();
    let params = config.params;
    let report = gradcheck(
        |v: &[Var<f64>]| v[0].conv2d(&v[1], Some(&v[2]), &params)?.relu(),
        &[x, w, b],
        &GradcheckOptions::default().with_input_names(&["input", "weight", "bias"]),
    )?;
    println!(
        "gradcheck of conv1 in f64: passed ({} Jacobian entries, max error {:.1e})",
        report.checked, report.max_abs_error
    );
    Ok(())
}
